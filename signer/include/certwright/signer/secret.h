// Secret text (PINs, keys in PEM) wiped from memory when it is released (STYLE.md §8).
//
//   SecretString pin(text_from_file);
//   Wipe(text_from_file);
//   api.Login(session, pin.value());
#pragma once

#include <openssl/crypto.h>

#include <string>
#include <string_view>
#include <utility>

namespace certwright::signer {

// Overwrites every byte `s` holds and empties it. Bytes past size() are wiped too: a string
// that was moved from, shrunk or cleared keeps its old contents in its buffer (the small-string
// buffer of a moved-from std::string still holds them).
inline void Wipe(std::string& s) {
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// A string wiped on destruction and on reassignment. Movable, not copyable: every copy of a
// secret is one more place to wipe.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view s) : s_(s) {}
  SecretString(SecretString&& other) noexcept : s_(std::move(other.s_)) { Wipe(other.s_); }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      Wipe(s_);
      s_ = std::move(other.s_);
      Wipe(other.s_);
    }
    return *this;
  }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString() { Wipe(s_); }

  // Replaces the contents, wiping the old ones first (assigning could reallocate and free them).
  void Assign(std::string_view s) {
    Wipe(s_);
    s_.assign(s);
  }
  const std::string& value() const { return s_; }
  bool empty() const { return s_.empty(); }
  // Constant time in the contents (CRYPTO_memcmp); the lengths are not secret.
  bool Equals(std::string_view other) const {
    return s_.size() == other.size() && CRYPTO_memcmp(s_.data(), other.data(), s_.size()) == 0;
  }

 private:
  std::string s_;
};

}  // namespace certwright::signer
