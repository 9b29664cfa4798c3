// Names that no other call, process or host makes: the temporary files of a DirectoryStore on a
// shared file system, and the alive marks of an agreement.
#pragma once

#include <string>
#include <string_view>

namespace ncclrt::detail {

/// "<host>.<pid>.<count>.<16 hex digits>": `host` (only [A-Za-z0-9.-] kept, at most 64
/// characters), a process id, a count of calls, and 8 random bytes (getrandom, else
/// /dev/urandom), so that two hosts whose processes share a pid (containers) still differ, and
/// so do two hosts of one name.
std::string unique_name(std::string_view host, long pid, unsigned long long count);
/// The same for this host and process, counting this process's calls.
std::string unique_name();

/// This machine's name (gethostname), "unknown-host" where it has none.
std::string host_name();

}  // namespace ncclrt::detail
