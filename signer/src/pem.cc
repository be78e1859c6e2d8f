#include "certwright/signer/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "certwright/signer/secret.h"

namespace certwright::signer {

using ossl::Bytes;

namespace {

// PEM blocks may hold private keys: every block is wiped, not only the one that was used.
void WipeBlocks(std::vector<PemBlock>& blocks) {
  for (auto& block : blocks) OPENSSL_cleanse(block.der.data(), block.der.size());
}

struct BlocksWiper {
  std::vector<PemBlock>& blocks;
  ~BlocksWiper() { WipeBlocks(blocks); }
};

}  // namespace

Status CheckInputSize(std::string_view input, std::string_view what) {
  if (input.size() > kMaxInputBytes) {
    return InvalidArgument(std::string(what) + " is " + std::to_string(input.size()) + " bytes; the limit is " +
                           std::to_string(kMaxInputBytes));
  }
  if (input.empty()) return InvalidArgument(std::string(what) + " is empty");
  return Ok();
}

Result<std::vector<PemBlock>> ReadPemBlocks(std::string_view input, std::string_view what) {
  ossl::Bio bio(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
  std::vector<PemBlock> blocks;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    ERR_clear_error();
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      unsigned long err = ERR_peek_last_error();
      bool clean_end = ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
      std::string reason = ossl::DrainErrors();
      if (clean_end) break;
      WipeBlocks(blocks);
      return InvalidArgument(std::string(what) + ": PEM block " + std::to_string(blocks.size() + 1) +
                             " is malformed (" + reason + ")");
    }
    PemBlock block{name, Bytes(data, data + len)};
    bool encrypted = header != nullptr && std::strstr(header, "ENCRYPTED") != nullptr;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, static_cast<size_t>(len));
    if (encrypted) {
      OPENSSL_cleanse(block.der.data(), block.der.size());
      WipeBlocks(blocks);
      return InvalidArgument(std::string(what) + ": PEM block " + std::to_string(blocks.size() + 1) +
                             " is encrypted; provide an unencrypted key");
    }
    blocks.push_back(std::move(block));
  }
  if (blocks.empty()) {
    return InvalidArgument(std::string(what) + " contains no PEM block (expected \"-----BEGIN ...-----\")");
  }
  return blocks;
}

namespace {

template <typename T, typename D2I>
Result<T> DecodeWhole(const Bytes& der, D2I d2i, std::string_view what) {
  const unsigned char* p = der.data();
  T obj(d2i(nullptr, &p, static_cast<long>(der.size())));
  if (!obj) return InvalidArgument(std::string(what) + " is not valid DER (" + ossl::DrainErrors() + ")");
  if (p != der.data() + der.size()) {
    return InvalidArgument(std::string(what) + " has " + std::to_string(der.data() + der.size() - p) +
                           " bytes of trailing data after the DER structure");
  }
  return obj;
}

}  // namespace

bool LooksLikePem(std::string_view text) { return text.find("-----BEGIN ") != std::string_view::npos; }

Result<std::vector<ossl::X509Ptr>> ParseCertificates(std::string_view input) {
  CW_RETURN_IF_ERROR(CheckInputSize(input, "certificate input"));
  std::vector<ossl::X509Ptr> certs;
  if (!LooksLikePem(input)) {
    Bytes der(input.begin(), input.end());
    CW_ASSIGN_OR_RETURN(auto cert, DecodeWhole<ossl::X509Ptr>(der, d2i_X509, "DER certificate"));
    certs.push_back(std::move(cert));
    return certs;
  }
  CW_ASSIGN_OR_RETURN(auto blocks, ReadPemBlocks(input, "certificate input"));
  for (size_t i = 0; i < blocks.size(); ++i) {
    std::string where = "PEM block " + std::to_string(i + 1);
    if (blocks[i].name != "CERTIFICATE") {
      return InvalidArgument(where + " is a \"" + blocks[i].name + "\", expected \"CERTIFICATE\"");
    }
    CW_ASSIGN_OR_RETURN(auto cert, DecodeWhole<ossl::X509Ptr>(blocks[i].der, d2i_X509, where + " (CERTIFICATE)"));
    certs.push_back(std::move(cert));
  }
  return certs;
}

Result<ossl::PKey> ParsePrivateKey(std::string_view input) {
  CW_RETURN_IF_ERROR(CheckInputSize(input, "private key input"));
  CW_ASSIGN_OR_RETURN(auto blocks, ReadPemBlocks(input, "private key input"));
  BlocksWiper wiper{blocks};
  for (auto& block : blocks) {
    std::string where = "\"" + block.name + "\" PEM block";
    Result<ossl::PKey> key = InvalidArgument("");
    if (block.name == "PRIVATE KEY") {
      key = DecodeWhole<ossl::PKey>(block.der, [](EVP_PKEY**, const unsigned char** p, long n) {
        return d2i_AutoPrivateKey(nullptr, p, n);
      }, where);
    } else if (block.name == "RSA PRIVATE KEY" || block.name == "EC PRIVATE KEY") {
      int type = block.name[0] == 'R' ? EVP_PKEY_RSA : EVP_PKEY_EC;
      key = DecodeWhole<ossl::PKey>(block.der, [type](EVP_PKEY**, const unsigned char** p, long n) {
        return d2i_PrivateKey(type, nullptr, p, n);
      }, where);
    } else if (block.name == "ENCRYPTED PRIVATE KEY") {
      OPENSSL_cleanse(block.der.data(), block.der.size());
      return InvalidArgument("private key is encrypted; provide an unencrypted PKCS#8 key");
    } else {
      OPENSSL_cleanse(block.der.data(), block.der.size());
      continue;  // parameters ("EC PARAMETERS") or certificates next to the key
    }
    OPENSSL_cleanse(block.der.data(), block.der.size());
    return key;
  }
  return InvalidArgument("private key input has no \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block");
}

Result<ossl::PKey> ParsePublicKey(std::string_view input) {
  CW_RETURN_IF_ERROR(CheckInputSize(input, "public key input"));
  CW_ASSIGN_OR_RETURN(auto blocks, ReadPemBlocks(input, "public key input"));
  for (auto& block : blocks) {
    if (block.name == "PUBLIC KEY") {
      return DecodeWhole<ossl::PKey>(block.der, d2i_PUBKEY, "\"PUBLIC KEY\" PEM block");
    }
  }
  return InvalidArgument("public key input has no \"PUBLIC KEY\" block");
}

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int e = errno;
    if (e == ENOENT) return NotFound(path + ": no such file");
    if (e == EACCES) return PermissionDenied(path + ": permission denied");
    return InvalidArgument(path + ": " + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path + ": is a directory, expected a file");
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return InvalidArgument(path + ": file is " + std::to_string(st.st_size) + " bytes; the limit is " +
                           std::to_string(max_bytes));
  }
  // read(2) straight into the result: these files hold PINs and private keys, and a stream's
  // own buffer would keep a copy that is freed without being wiped.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PermissionDenied(path + ": cannot be opened: " + std::strerror(errno));
  std::string data(max_bytes + 1, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      Wipe(data);
      return InvalidArgument(path + ": reading failed: " + std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) {
    Wipe(data);
    return InvalidArgument(path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  data.resize(got);
  return data;
}

}  // namespace certwright::signer
