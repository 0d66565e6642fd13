// The C face of RE2 that Swift can call: RE2's API is C++ (classes, StringPiece), which Swift's
// C importer cannot see.
#include "CRipcordRE2.h"

#include <re2/re2.h>

#include <cstdlib>
#include <cstring>
#include <new>

struct ripcord_re2 {
    re2::RE2 regex;
    ripcord_re2(const re2::StringPiece &pattern, const re2::RE2::Options &options) : regex(pattern, options) {}
};

extern "C" ripcord_re2 *ripcord_re2_compile(const char *pattern, size_t length, int case_insensitive, char **error) {
    re2::RE2::Options options;
    options.set_log_errors(false);  // errors are returned to the caller, not written to stderr
    options.set_case_sensitive(case_insensitive == 0);
    auto *compiled = new (std::nothrow) ripcord_re2(re2::StringPiece(pattern, length), options);
    if (compiled == nullptr) {
        if (error != nullptr) *error = strdup("out of memory");
        return nullptr;
    }
    if (!compiled->regex.ok()) {
        if (error != nullptr) *error = strdup(compiled->regex.error().c_str());
        delete compiled;
        return nullptr;
    }
    return compiled;
}

extern "C" int ripcord_re2_is_match(const ripcord_re2 *regex, const char *text, size_t length) {
    return re2::RE2::PartialMatch(re2::StringPiece(text, length), regex->regex) ? 1 : 0;
}

extern "C" void ripcord_re2_free(ripcord_re2 *regex) { delete regex; }

extern "C" void ripcord_re2_free_error(char *error) { free(error); }
