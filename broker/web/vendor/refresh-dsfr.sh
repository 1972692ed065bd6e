#!/bin/sh
# refresh-dsfr.sh copies the few DSFR (Système de design de l'État) files the pages
# use from the npm package @gouvfr/dsfr at a pinned version into vendor/dsfr/.
#
# Usage: broker/web/vendor/refresh-dsfr.sh [version]
# Without an argument it re-vendors the version in vendor/dsfr/VERSION. Review the
# diff (CSS class names change between DSFR versions) and run
# `go test ./broker/web/` before committing.
#
# Only the core, the components the templates use, the Marianne fonts in woff2
# and the icons those stylesheets reference are kept: the whole dist/ is ~90 MB.
# No DSFR JavaScript is vendored: the pages work without it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/dsfr"
version=${1:-$(cat "$dest/VERSION")}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

(cd "$tmp" && npm pack --silent "@gouvfr/dsfr@$version" >/dev/null)
tar -xzf "$tmp"/gouvfr-dsfr-"$version".tgz -C "$tmp"
src="$tmp/package/dist"

# Components: keep in step with the <link> list in templates/layout.html.
components="button form input alert header footer logo link skiplink badge"
fonts="Marianne-Regular Marianne-Medium Marianne-Bold"
# Icons referenced by the rules of those components that the pages use
# (alerts, form messages, badges, external links).
icons="system/fr--error-fill system/fr--info-fill system/fr--success-fill system/fr--warning-fill system/external-link-line system/close-line"

rm -rf "$dest"
mkdir -p "$dest/core" "$dest/fonts" "$dest/favicon"
cp "$src/core/core.min.css" "$dest/core/"
for c in $components; do
	mkdir -p "$dest/component/$c"
	cp "$src/component/$c/$c.min.css" "$dest/component/$c/"
done
for f in $fonts; do
	cp "$src/fonts/$f.woff2" "$dest/fonts/"
done
for i in $icons; do
	mkdir -p "$dest/icons/$(dirname "$i")"
	cp "$src/icons/$i.svg" "$dest/icons/$i.svg"
done
cp "$src/favicon/favicon.svg" "$dest/favicon/"
# Source maps would point at files we do not ship.
for f in $(find "$dest" -name '*.css'); do
	sed -e 's#/\*\# sourceMappingURL=[^*]*\*/##' "$f" >"$f.tmp"
	mv "$f.tmp" "$f"
done
cp "$tmp/package/LICENSE.md" "$dest/LICENSE.md"
echo "$version" >"$dest/VERSION"

du -sh "$dest"
