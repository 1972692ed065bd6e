// Package static is a PasswordProvider of development users declared in the
// configuration with bcrypt password hashes. The broker accepts it only in
// development mode (and in `justiceconnect demo`) and never above eidas1: it exists
// so that a newcomer can log in without a directory.
package static
