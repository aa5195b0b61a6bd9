#pragma once

#include <string>

#include "approvals/policy.h"
#include "base/result.h"

namespace sandgate::supervisor {

// Saves one rule to a policy file (supervisor/policy_file.h) for later runs: what a decision
// {"applyNetworkPolicyAmendment": {"host": RULE, "action": A, "persist": true}} or the tty
// approver's "always" keys ask for.
//
// What it does to the file:
// - A missing file is created as {"network": {"allow": [RULE]}} (or "deny"), mode 0644 minus the
//   umask (no older file to take a mode from; a policy file holds no secret of its own).
// - An existing file must parse as a policy (ParsePolicyFile): one that is not JSON, or has an
//   unknown key or a value of the wrong type, is refused with an error naming its path and what
//   is wrong, and is left exactly as it was (bytes, inode, mtime).
// - RULE is added to the end of network.allow (kAllow) or network.deny (kDeny) unless the same
//   rule is there already, and the same rule is removed from the opposite list: a later decision
//   replaces an earlier one (else an old deny would keep beating the new allow). "The same rule"
//   means the same canonical text (FormatRule), so "GitHub.com:443" in the file is the rule
//   "github.com:443"; an entry that is not a valid rule is compared as written. network.route is
//   left alone.
// - Everything else is kept: every other key and value, in its order. The file is rewritten
//   pretty-printed (2-space indent, one trailing newline), so the previous layout is not.
// - The file keeps its mode and, where the caller may set it (root, or a group the caller is
//   in), its owner and group; a file whose owner cannot be kept is refused rather than silently
//   handed to the caller. ACLs and extended attributes are not copied, and the rename makes a
//   hard-linked file a file of its own (its other names keep the old content).
//
// A symlink at `path` is followed (people keep dotfiles as links into a repository), up to 40
// links, each relative to the link's own directory; a dangling link creates the file it points
// to. Everything after that happens in the real file's directory, through one fd on it.
//
// Concurrency: several sandgates saving to one file never lose each other's rules. Each holds
// an exclusive flock(2) on the directory that contains the real file while it re-reads the file,
// changes it and renames the new version into place. The lock is on the directory, not on the
// file, because the file is replaced by rename: a lock on the file's inode would be on the old
// inode after the first writer's rename, so a second writer that had opened it before the
// rename would hold a "lock" on a file nobody reads any more while a third locked the new one.
// The directory stays the same inode, exists before the file does, and needs no lock file that
// would be left behind. The cost is that saves to different files in one directory wait for each
// other, which is a few milliseconds. flock does not work on directories everywhere (NFS emulates
// it with POSIX locks, which need a writable fd): there saving fails with the reason, rather than
// saving without the lock. A lock that another process holds for more than 10 s fails too, so
// that a stuck process cannot stop sandgate.
//
// Atomic: the new content goes to a temporary file in the same directory (O_EXCL, a random
// name, mode 0600 while it is written), which is written in full, fsync'ed, given the original's
// owner and mode, renamed over the target and followed by an fsync of the directory. On any
// failure before the rename the temporary file is removed and the original is unchanged, e.g.
// in a directory the caller cannot write.
//
// Blocking (file I/O, two fsyncs, the lock): milliseconds, but not for a hot path. Any thread;
// concurrent calls within one process are serialized by the same lock.
[[nodiscard]] base::Status SavePolicyRule(const std::string& path, const std::string& rule_text,
                                          approvals::AmendmentAction action);

}  // namespace sandgate::supervisor
