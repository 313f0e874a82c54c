// The status page served at "/": one self-contained HTML document (inline CSS and
// JavaScript, no external assets, a few KB) that fetches /status every 5 s and shows the
// node's conditions (True red, False green, Unknown grey, with their age), each eviction
// signal against its thresholds as a bar, the sources, the condition changes it has seen
// (kept in the browser's localStorage), and links to /metrics, /status and /healthz.
#pragma once

#include <string_view>

namespace nodehealth::sinks {

// The page, UTF-8; served as "text/html; charset=utf-8".
std::string_view status_page_html();

// The Content-Security-Policy header served with it: the page's own <meta> policy (only its
// inline style and script, requests to the agent itself) plus what only a header can carry
// (frame-ancestors: no other site may frame it) and no <base> or form targets.
std::string_view status_page_csp();

}  // namespace nodehealth::sinks
