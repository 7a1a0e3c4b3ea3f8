// File: text.h (private to letterbox_sim_modes)
//
// String helpers on std::string_view. Debian's abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so absl::StrCat and
// friends do not accept std::string_view; these do.
//
//   std::string s = Cat("sent ", n, " of ", std::string_view("x"));
//   std::string_view t = StripWhitespace("  a ");   // "a"
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace letterbox::sim {

// Concatenates the arguments as operator<< prints them.
template <typename... Args>
[[nodiscard]] std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// `text` without leading and trailing spaces and tabs.
[[nodiscard]] inline std::string_view StripWhitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Removes `suffix` from the end of `*text` if it is there; true if it was.
[[nodiscard]] inline bool ConsumeSuffix(std::string_view* text, std::string_view suffix) {
  if (text->size() < suffix.size() || text->substr(text->size() - suffix.size()) != suffix) {
    return false;
  }
  text->remove_suffix(suffix.size());
  return true;
}

// The pieces of `text` between `separator`s (one piece for no separator).
[[nodiscard]] inline std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

}  // namespace letterbox::sim
