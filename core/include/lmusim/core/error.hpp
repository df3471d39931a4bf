#pragma once
// The two exception roots of lmusim (docs/design.md §6).
//
// lmusim::error          the user's input is wrong (a network, a file, an argument). The message
//                        names the thing and the value, e.g.
//                        "projection 'fc1': weight count 261120, expected 1024 x 256 = 262144".
// lmusim::internal_error a bug in lmusim: an invariant that should always hold did not.
#include <stdexcept>
#include <string>

namespace lmusim {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The network description is invalid (graph/ validate()).
class network_error : public error {
public:
    using error::error;
};

// A file could not be read or written, or its content is not what was expected.
class file_error : public error {
public:
    using error::error;
};

class internal_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

}  // namespace lmusim
