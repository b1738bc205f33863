// SNI names: the server_name extension parser (client input, so every malformed shape) and the
// certificate-name match that picks a listener's certificate.
#include <gtest/gtest.h>

#include <vector>

#include "net/certificate_names.hpp"

namespace sluice {
namespace {

std::vector<unsigned char> extension(
    const std::vector<std::pair<unsigned char, std::string>>& entries) {
  std::vector<unsigned char> list;
  for (const auto& [type, name] : entries) {
    list.push_back(type);
    list.push_back(static_cast<unsigned char>(name.size() >> 8));
    list.push_back(static_cast<unsigned char>(name.size() & 0xff));
    list.insert(list.end(), name.begin(), name.end());
  }
  std::vector<unsigned char> out{static_cast<unsigned char>(list.size() >> 8),
                                 static_cast<unsigned char>(list.size() & 0xff)};
  out.insert(out.end(), list.begin(), list.end());
  return out;
}

TEST(ServerNameExtension, TakesTheHostName) {
  const auto ext = extension({{0, "api.example.com"}});
  EXPECT_EQ(parse_server_name_extension(ext.data(), ext.size()), "api.example.com");
}

TEST(ServerNameExtension, SkipsOtherNameTypes) {
  const auto ext = extension({{7, "xx"}, {0, "b.example"}});
  EXPECT_EQ(parse_server_name_extension(ext.data(), ext.size()), "b.example");
}

TEST(ServerNameExtension, RefusesMalformedShapes) {
  auto ext = extension({{0, "a.example"}});
  // Truncated anywhere, or a list length that disagrees with the extension's.
  for (std::size_t len = 0; len < ext.size(); ++len) {
    EXPECT_EQ(parse_server_name_extension(ext.data(), len), std::nullopt) << len;
  }
  ext[1] = static_cast<unsigned char>(ext[1] + 1);
  EXPECT_EQ(parse_server_name_extension(ext.data(), ext.size()), std::nullopt);
  const auto empty_name = extension({{0, ""}});
  EXPECT_EQ(parse_server_name_extension(empty_name.data(), empty_name.size()), std::nullopt);
  const auto no_host = extension({{3, "x"}});
  EXPECT_EQ(parse_server_name_extension(no_host.data(), no_host.size()), std::nullopt);
}

TEST(CertificateNameMatch, ExactIsCaseInsensitive) {
  EXPECT_TRUE(name_matches("api.example.com", "API.Example.com"));
  EXPECT_TRUE(name_matches("api.example.com", "api.example.com."));
  EXPECT_FALSE(name_matches("api.example.com", "www.example.com"));
}

TEST(CertificateNameMatch, WildcardIsOneLeftmostLabel) {
  EXPECT_TRUE(name_matches("*.example.com", "a.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", ".example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "a.example.org"));
}

}  // namespace
}  // namespace sluice
