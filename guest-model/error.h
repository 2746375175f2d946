// Errors that cross a library boundary. Libraries throw krr::Error with a
// message of the form "<what failed>: <why>"; executables catch it at the top
// and print "krr: <message>". Nothing in a library aborts on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace krr {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
    Error(const std::string& what_failed, const std::string& why)
        : std::runtime_error(what_failed + ": " + why) {}
};

// The text of errno as a "why".
std::string errno_text(int err);

} // namespace krr
