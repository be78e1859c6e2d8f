// Strict DER walker: see der.h for why it exists.
#include "certwright/signer/der.h"

#include <string>

namespace certwright::signer {

namespace {

constexpr int kMaxDepth = 64;

// Universal tag numbers (X.690 §8, X.680 §8.4).
enum : uint32_t {
  kBoolean = 1,
  kInteger = 2,
  kBitString = 3,
  kOctetString = 4,
  kNull = 5,
  kObjectIdentifier = 6,
  kEnumerated = 10,
  kSequence = 16,
  kSet = 17,
};

// Types DER requires in the primitive form (X.690 §10.2): BIT STRING, OCTET STRING, the
// restricted character strings and the times; plus the types that have no constructed form.
bool MustBePrimitive(uint32_t number) {
  switch (number) {
    case kBoolean:
    case kInteger:
    case kBitString:
    case kOctetString:
    case kNull:
    case kObjectIdentifier:
    case kEnumerated:
    case 12:  // UTF8String
    case 13:  // RELATIVE-OID
    case 18:  // NumericString
    case 19:  // PrintableString
    case 20:  // T61String
    case 21:  // VideotexString
    case 22:  // IA5String
    case 23:  // UTCTime
    case 24:  // GeneralizedTime
    case 25:  // GraphicString
    case 26:  // VisibleString
    case 27:  // GeneralString
    case 28:  // UniversalString
    case 30:  // BMPString
      return true;
    default:
      return false;
  }
}

class Walker {
 public:
  Walker(std::span<const uint8_t> in, std::string_view what) : in_(in), what_(what) {}

  // Reads the TLV at `pos`, which must end by `end`; `*next` is the byte after it.
  Status Element(size_t pos, size_t end, int depth, size_t* next) {
    if (depth > kMaxDepth) return Fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels", pos);
    const size_t start = pos;
    if (pos >= end) return Fail("a value cut short", pos);
    const uint8_t identifier = in_[pos++];
    const bool universal = (identifier & 0xc0) == 0;
    const bool constructed = (identifier & 0x20) != 0;
    uint32_t number = identifier & 0x1f;
    if (number == 0x1f) {
      // High tag number form (X.690 §8.1.2.4): base 128, no leading 0x80, only for numbers >= 31.
      if (pos >= end) return Fail("a tag cut short", start);
      if (in_[pos] == 0x80) return Fail("a tag number not in its shortest form", start);
      number = 0;
      for (int i = 0;; ++i) {
        if (pos >= end) return Fail("a tag cut short", start);
        if (i == 4) return Fail("a tag number larger than certwright reads", start);
        const uint8_t b = in_[pos++];
        number = (number << 7) | (b & 0x7f);
        if ((b & 0x80) == 0) break;
      }
      if (number < 0x1f) return Fail("a tag number not in its shortest form", start);
    }

    // Length (X.690 §10.1: definite, and in the fewest octets).
    if (pos >= end) return Fail("a length cut short", start);
    const size_t length_at = pos;
    const uint8_t first = in_[pos++];
    size_t length = first;
    if (first == 0x80) return Fail("an indefinite length", length_at);
    if (first & 0x80) {
      const size_t octets = first & 0x7f;
      if (octets > 4) return Fail("a length of more than 4 bytes", length_at);
      if (end - pos < octets) return Fail("a length cut short", length_at);
      if (in_[pos] == 0) return Fail("a length not in its shortest form", length_at);
      length = 0;
      for (size_t i = 0; i < octets; ++i) length = (length << 8) | in_[pos++];
      if (length < 0x80) return Fail("a length not in its shortest form", length_at);
    }
    if (length > end - pos) return Fail("a value longer than what contains it", start);
    const size_t content = pos;
    const size_t content_end = pos + length;

    if (universal) {
      if (constructed && MustBePrimitive(number)) {
        return Fail("a constructed " + TypeName(number) + " (DER requires the primitive form)", start);
      }
      if (!constructed && (number == kSequence || number == kSet)) {
        return Fail("a primitive " + TypeName(number), start);
      }
      if (!constructed) CW_RETURN_IF_ERROR(PrimitiveValue(number, start, content, length));
    }
    if (constructed) {
      size_t child = content;
      while (child < content_end) CW_RETURN_IF_ERROR(Element(child, content_end, depth + 1, &child));
    }
    *next = content_end;
    return Ok();
  }

  Error Fail(const std::string& problem, size_t at) const {
    return InvalidArgument(std::string(what_) + " is not DER (X.690 §10): " + problem + " at byte " +
                           std::to_string(at));
  }

 private:
  static std::string TypeName(uint32_t number) {
    switch (number) {
      case kBoolean: return "BOOLEAN";
      case kInteger: return "INTEGER";
      case kBitString: return "BIT STRING";
      case kOctetString: return "OCTET STRING";
      case kNull: return "NULL";
      case kObjectIdentifier: return "OBJECT IDENTIFIER";
      case kEnumerated: return "ENUMERATED";
      case kSequence: return "SEQUENCE";
      case kSet: return "SET";
      case 23: return "UTCTime";
      case 24: return "GeneralizedTime";
      default: return "string";
    }
  }

  // The value rules of X.690 §8 and §11 that Go's parsers enforce and OpenSSL's do not always.
  Status PrimitiveValue(uint32_t number, size_t start, size_t content, size_t length) const {
    const uint8_t* v = in_.data() + content;
    switch (number) {
      case kBoolean:
        if (length != 1 || (v[0] != 0x00 && v[0] != 0xff)) return Fail("a BOOLEAN other than 00 or FF", start);
        break;
      case kInteger:
      case kEnumerated:
        if (length == 0) return Fail("an empty " + TypeName(number), start);
        if (length > 1 && ((v[0] == 0x00 && (v[1] & 0x80) == 0) || (v[0] == 0xff && (v[1] & 0x80) != 0))) {
          return Fail("an " + TypeName(number) + " not in its shortest form", start);
        }
        break;
      case kNull:
        if (length != 0) return Fail("a NULL with contents", start);
        break;
      case kBitString:
        if (length == 0 || v[0] > 7 || (length == 1 && v[0] != 0) ||
            (length > 1 && (v[length - 1] & ((1u << v[0]) - 1)) != 0)) {
          return Fail("a BIT STRING with invalid unused bits", start);
        }
        break;
      case kObjectIdentifier:
        if (length == 0 || (v[length - 1] & 0x80) != 0) return Fail("an OBJECT IDENTIFIER cut short", start);
        for (size_t i = 0; i < length; ++i) {
          const bool starts_subidentifier = i == 0 || (v[i - 1] & 0x80) == 0;
          if (starts_subidentifier && v[i] == 0x80) {
            return Fail("an OBJECT IDENTIFIER not in its shortest form", start);
          }
        }
        break;
      default:
        break;
    }
    return Ok();
  }

  std::span<const uint8_t> in_;
  std::string_view what_;
};

}  // namespace

Status CheckStrictDer(std::span<const uint8_t> der, std::string_view what) {
  Walker walker(der, what);
  size_t next = 0;
  CW_RETURN_IF_ERROR(walker.Element(0, der.size(), 0, &next));
  if (next != der.size()) return walker.Fail("bytes after the end of the value", next);
  return Ok();
}

}  // namespace certwright::signer
