#pragma once
// The page's files (web/dist/, embedded at build time) as HTTP answers: content types, strong
// ETags and cache rules, so a browser revalidates cheaply and never runs a stale app.js.
#include <optional>
#include <string>
#include <string_view>

namespace tp::server {

// An embedded file ready to send.
struct StaticFile {
  std::string_view body;
  std::string content_type;
  std::string etag;           // quoted, e.g. "\"9f86d081884c7d65\""
  std::string cache_control;  // no-cache: always revalidated (file names carry no hash)
};

// The file web/dist/<name> if it is embedded (names with '/' or ".." never match).
std::optional<StaticFile> find_static_file(std::string_view name);

// The Content-Type for a file name by its extension.
std::string content_type_for(std::string_view name);

// True when an If-None-Match header value matches `etag` (a list, or "*").
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace tp::server
