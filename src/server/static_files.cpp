#include "server/static_files.h"

#include <fmt/core.h>

#include <cstdint>
#include <map>
#include <mutex>

#include "common/resources.h"

namespace tp::server {
namespace {

// FNV-1a: a content hash for ETags (not security relevant).
uint64_t fnv1a(std::string_view data) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::string content_type_for(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (ends_with(name, extension)) return std::string(type);
  }
  return "application/octet-stream";
}

std::optional<StaticFile> find_static_file(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos ||
      name.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  auto body = find_resource("web/dist/" + std::string(name));
  if (!body) return std::nullopt;
  // Hashes are computed once per file: the resources never change while the process runs.
  static std::mutex mutex;
  static std::map<std::string, std::string, std::less<>> etags;
  std::string etag;
  {
    std::lock_guard lock(mutex);
    auto it = etags.find(name);
    if (it == etags.end()) {
      it = etags.emplace(std::string(name), fmt::format("\"{:016x}\"", fnv1a(*body))).first;
    }
    etag = it->second;
  }
  return StaticFile{*body, content_type_for(name), etag, "no-cache"};
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t end = if_none_match.find(',', pos);
    if (end == std::string_view::npos) end = if_none_match.size();
    std::string_view candidate = if_none_match.substr(pos, end - pos);
    while (!candidate.empty() && candidate.front() == ' ') candidate.remove_prefix(1);
    while (!candidate.empty() && candidate.back() == ' ') candidate.remove_suffix(1);
    if (candidate.substr(0, 2) == "W/") candidate.remove_prefix(2);  // weak comparison
    if (candidate == "*" || candidate == etag) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace tp::server
