#include "cre2.h"
#include <re2/re2.h>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

struct cre2_regex {
    re2::RE2 re;
    explicit cre2_regex(re2::StringPiece p, const re2::RE2::Options &o) : re(p, o) {}
};

extern "C" cre2_regex *cre2_compile(const char *pattern, size_t pattern_len, char *error, size_t error_len) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(64 << 20);  // bound the automaton: patterns can come from requests
    cre2_regex *r = new (std::nothrow) cre2_regex(re2::StringPiece(pattern, pattern_len), options);
    if (r == nullptr) {
        if (error_len > 0) std::snprintf(error, error_len, "out of memory");
        return nullptr;
    }
    if (!r->re.ok()) {
        if (error_len > 0) std::snprintf(error, error_len, "%s", r->re.error().c_str());
        delete r;
        return nullptr;
    }
    return r;
}

extern "C" void cre2_free(cre2_regex *re) { delete re; }

extern "C" int cre2_groups(const cre2_regex *re) { return re->re.NumberOfCapturingGroups(); }

extern "C" bool cre2_find(const cre2_regex *re, const char *text, size_t text_len, size_t start, long *offsets) {
    int n = re->re.NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> groups(n);
    re2::StringPiece input(text, text_len);
    if (!re->re.Match(input, start, text_len, re2::RE2::UNANCHORED, groups.data(), n)) return false;
    for (int i = 0; i < n; i++) {
        if (groups[i].data() == nullptr) {
            offsets[2 * i] = -1;
            offsets[2 * i + 1] = -1;
        } else {
            offsets[2 * i] = groups[i].data() - text;
            offsets[2 * i + 1] = offsets[2 * i] + (long)groups[i].size();
        }
    }
    return true;
}
