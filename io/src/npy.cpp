#include "lmusim/io/npy.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

// The value of `key` in the header dict, as raw text up to the next top-level ',' or '}'.
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
    std::string quoted(1, '\'');
    quoted.append(key);
    quoted.push_back('\'');
    const auto k = header.find(quoted);
    if (k == std::string::npos) throw file_error(cat(path, ": .npy header lacks '", key, "'"));
    auto colon = header.find(':', k + quoted.size());
    if (colon == std::string::npos) throw file_error(cat(path, ": malformed .npy header"));
    std::size_t i = colon + 1, depth = 0;
    std::string value;
    for (; i < header.size(); ++i) {
        const char c = header[i];
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if (depth == 0 && (c == ',' || c == '}')) break;
        value += c;
    }
    const auto b = value.find_first_not_of(" "), e = value.find_last_not_of(" ");
    return b == std::string::npos ? "" : value.substr(b, e - b + 1);
}

}  // namespace

npy_array read_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw file_error(cat("cannot open '", path, "': ", std::strerror(errno)));
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        throw file_error(cat(path, ": not a .npy file (bad magic)"));
    const int major = static_cast<unsigned char>(magic[6]);
    std::uint32_t header_len = 0;
    if (major == 1) {
        unsigned char b[2];
        if (!in.read(reinterpret_cast<char*>(b), 2)) throw file_error(cat(path, ": truncated .npy header"));
        header_len = b[0] | (b[1] << 8);
    } else if (major == 2 || major == 3) {
        unsigned char b[4];
        if (!in.read(reinterpret_cast<char*>(b), 4)) throw file_error(cat(path, ": truncated .npy header"));
        header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
    } else {
        throw file_error(cat(path, ": unsupported .npy format version ", major));
    }
    if (header_len > (1u << 20)) throw file_error(cat(path, ": .npy header of ", header_len, " bytes is implausible"));
    std::string header(header_len, '\0');
    if (!in.read(header.data(), header_len)) throw file_error(cat(path, ": truncated .npy header"));

    const std::string descr = header_value(header, "descr", path);
    std::size_t item = 0;
    if (descr == "'<f4'") item = 4;
    else if (descr == "'<f8'") item = 8;
    else throw file_error(cat(path, ": dtype ", descr, " is not supported; expected float32 ('<f4') or float64 ('<f8')"));
    if (header_value(header, "fortran_order", path) != "False")
        throw file_error(cat(path, ": Fortran-ordered arrays are not supported; save np.ascontiguousarray(x)"));
    std::string shape_text = header_value(header, "shape", path);
    if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
        throw file_error(cat(path, ": malformed shape ", shape_text));
    npy_array a;
    std::size_t count = 1;
    std::string num;
    std::string dims_text(shape_text.begin() + 1, shape_text.end() - 1);
    dims_text.push_back(',');
    for (char c : dims_text) {
        if (c == ',' ) {
            if (!num.empty()) {
                std::size_t d = 0;
                try {
                    d = std::stoull(num);
                } catch (const std::exception&) {
                    throw file_error(cat(path, ": malformed shape ", shape_text));
                }
                if (d != 0 && count > (std::size_t{1} << 36) / d)
                    throw file_error(cat(path, ": shape ", shape_text, " is too large"));
                count *= d;
                a.shape.push_back(d);
            }
            num.clear();
        } else if (c != ' ') {
            num += c;
        }
    }
    const auto data_start = in.tellg();
    in.seekg(0, std::ios::end);
    const auto available = static_cast<std::size_t>(in.tellg() - data_start);
    if (available < count * item)
        throw file_error(cat(path, ": truncated: shape ", shape_text, " needs ", count * item, " bytes of data, found ", available));
    in.seekg(data_start);
    a.data.resize(count);
    if (item == 4) {
        in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(count * 4));
    } else {
        std::vector<double> tmp(count);
        in.read(reinterpret_cast<char*>(tmp.data()), static_cast<std::streamsize>(count * 8));
        for (std::size_t i = 0; i < count; ++i) a.data[i] = static_cast<float>(tmp[i]);
    }
    if (!in) throw file_error(cat(path, ": cannot read the array data"));
    return a;
}

void write_npy(const std::string& path, const std::vector<std::size_t>& shape, const float* data, if_exists existing) {
    // "(a, b, c)", "(a,)" or "()"
    std::string shape_text = "(";
    std::size_t count = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) shape_text.append(", ");
        shape_text.append(std::to_string(shape[i]));
        count *= shape[i];
    }
    if (shape.size() == 1) shape_text.push_back(',');
    shape_text.push_back(')');
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
    header.append(shape_text);
    header.append(", }");
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string bytes("\x93NUMPY\x01\x00", 8);
    bytes.push_back(static_cast<char>(header.size() & 0xff));
    bytes.push_back(static_cast<char>(header.size() >> 8));
    bytes += header;
    bytes.append(reinterpret_cast<const char*>(data), count * sizeof(float));
    output_file out(path, existing);
    write_file_atomically(out, bytes, ".npy file");
}

}  // namespace lmusim
