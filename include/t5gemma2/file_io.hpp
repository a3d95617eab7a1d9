// t5gemma2 — reading input files safely, and writing output files completely or not at all.
//
// Every file the library or its tools read (config.json, generation_config.json, tokenizer.model,
// images, prompt files; safetensors go through MappedFile, which applies the same rule) must be
// a REGULAR file: a named pipe would block the open or the read forever, /dev/zero never ends,
// a directory gives a bare C++ runtime error. The file is opened non-blocking, checked with
// fstat, and read whole only if it is no larger than the caller's limit — so memory is bounded
// before anything is allocated.
//
// Outputs (safetensors, .npy, PNG) are written by write_file_atomically: to PATH.partial, checked
// at every write and at close, then renamed to PATH — a full disk or a closed pipe gives an error
// naming the file, never a file that looks complete but is not.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "t5gemma2/error.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Writes bytes to `path` completely or throws Error naming it (nothing is left at `path` then;
// an older file there stays as it was). A path that exists and is not a regular file (a device,
// a FIFO) is written in place.
inline void write_file_atomically(const std::string& path, const void* data, std::size_t n) {
  struct stat st;
  const bool special = ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);  // /dev/null, a FIFO, ...: written in place
  const std::string partial = special ? path : path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw Error(path + ": cannot open for writing (" + std::strerror(errno) + ")");
  const bool written = std::fwrite(data, 1, n, f) == n && std::fflush(f) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    const int err = !written ? write_errno : errno;
    if (!special) std::remove(partial.c_str());
    throw Error(path + ": cannot write (" + std::strerror(err) + ")");
  }
  if (!special && std::rename(partial.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(partial.c_str());
    throw Error(path + ": cannot write (" + std::strerror(err) + ")");
  }
}
inline void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, bytes.data(), bytes.size());
}

// "12.3 MiB" for messages.
inline std::string byte_count(std::size_t n) {
  char buf[32];
  if (n < 1024) std::snprintf(buf, sizeof buf, "%zu bytes", n);
  else if (n < (std::size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", double(n) / 1024);
  else if (n < (std::size_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(n) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f GiB", double(n) / (1 << 30));
  return buf;
}

// Opens `path` for reading if it is a regular file; returns the descriptor and its size. `what`
// says what the file is for in errors ("image", "config").
inline int open_regular_file(const std::string& path, const std::string& what, std::size_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO must not block here
  check(fd >= 0, [&] { return path + ": cannot open " + what + " (" + std::strerror(errno) + ")"; });
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool dir = S_ISDIR(st.st_mode);
    ::close(fd);
    throw Error(path + ": " + what + " is " + (dir ? "a directory" : "not a regular file (a pipe, device or socket)") +
                "; give a regular file");
  }
  size = std::size_t(st.st_size);
  return fd;
}

// Reads the whole regular file `path` of at most max_bytes.
inline std::string read_regular_file(const std::string& path, std::size_t max_bytes, const std::string& what) {
  std::size_t size = 0;
  const int fd = open_regular_file(path, what, size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(path + ": " + what + " is " + byte_count(size) + ", more than the " + byte_count(max_bytes) + " accepted");
  }
  std::string bytes(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, bytes.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw Error(path + ": cannot read " + what + (n < 0 ? std::string(" (") + std::strerror(err) + ")" : " (file shrank)"));
    }
    got += std::size_t(n);
  }
  ::close(fd);
  return bytes;
}

// True when `path` names something (read_regular_file then says whether it is usable).
inline bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

T5GEMMA2_NAMESPACE_END
