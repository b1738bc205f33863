#!/usr/bin/env bash
# check_man.sh SLUICE_BINARY MAN_FILE
#
# Checks the hand-written man page against the binary it documents:
#   1. every long flag (--name) printed by `sluice --help` and `sluice demo --help` is
#      documented in an option entry of the page (the tag line of a .TP, or an .IP tag),
#      and the page documents no flag that --help does not print;
#   2. the version in the page's .TH footer is the one `sluice --version` prints;
#   3. groff renders the page without a warning (nroff if groff is missing);
#   4. man(1), when installed, renders it without a warning too.
# Needs no network and no root; takes well under a second.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SLUICE_BINARY MAN_FILE" >&2
  exit 2
fi
bin=$1
page=$2
[[ -x $bin ]] || { echo "check_man: $bin is not an executable" >&2; exit 1; }
[[ -r $page ]] || { echo "check_man: cannot read $page" >&2; exit 1; }

# A fixed UTF-8 locale if there is one, so man(1) and groff say nothing about the locale.
if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
  export LC_ALL=C.UTF-8
else
  export LC_ALL=C
fi

failed=0
fail() {
  echo "check_man: FAIL: $*" >&2
  failed=1
}

# --- 1. flags --------------------------------------------------------------------------

help_text() {  # the output of "$@", or a failure naming the command
  local out
  if ! out=$("$@" 2>&1); then
    echo "check_man: FAIL: \`$*\` exited with an error:" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  printf '%s\n' "$out"
}
main_help=$(help_text "$bin" --help)
demo_help=$(help_text "$bin" demo --help)

long_flags() { grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u; }

help_flags=$(printf '%s\n%s\n' "$main_help" "$demo_help" | long_flags)
[[ -n $help_flags ]] || { echo "check_man: FAIL: no --flags found in --help" >&2; exit 1; }

# The roff source with its escapes normalised: \- is a hyphen, \% \& \: \c and font changes
# (\fB \fI \fR \fP \f(XX \f[..]) are dropped.
normalised=$(sed -E \
  -e 's/\\-/-/g' \
  -e 's/\\[%&:c]//g' \
  -e 's/\\f(\(..|\[[^]]*\]|.)//g' \
  "$page")

# Option entries: the tag line after each .TP (comments and .\" lines skipped), and the
# first argument of each .IP.
tags=$(printf '%s\n' "$normalised" | awk '
  /^\.\\"/ || /^\\"/ { next }
  want_tag { print; want_tag = 0; next }
  /^\.TP([ \t]|$)/ { want_tag = 1; next }
  /^\.IP[ \t]/ { print }
')
page_flags=$(printf '%s\n' "$tags" | long_flags)

nflags=0
while IFS= read -r flag; do
  nflags=$((nflags + 1))
  if ! grep -qxF -- "$flag" <<<"$page_flags"; then
    fail "$flag is printed by --help but has no option entry (.TP) in $page"
  fi
done <<<"$help_flags"

while IFS= read -r flag; do
  [[ -n $flag ]] || continue
  if ! grep -qxF -- "$flag" <<<"$help_flags"; then
    fail "$flag has an option entry in $page but is not printed by --help"
  fi
done <<<"$page_flags"

# --- 2. version ------------------------------------------------------------------------

version=$(help_text "$bin" --version | head -n1)  # e.g. "sluice 0.1.0"
th=$(grep -m1 -E '^\.TH[ \t]' "$page" || true)
if [[ -z $th ]]; then
  fail "$page has no .TH line"
elif ! grep -qF -- "\"$version\"" <<<"$th"; then
  fail "the .TH line of $page does not name \"$version\" (what --version prints): $th"
fi

# --- 3. groff warnings -----------------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
  renderer=(groff -man -Tutf8 -ww -z)
elif command -v nroff >/dev/null 2>&1; then
  renderer=(nroff -man -ww)
else
  echo "check_man: FAIL: neither groff nor nroff is installed (package groff-base)" >&2
  exit 1
fi
if ! warnings=$("${renderer[@]}" "$page" 2>&1 >/dev/null); then
  fail "\`${renderer[*]} $page\` exited with an error"
fi
if [[ -n $warnings ]]; then
  fail "\`${renderer[*]} $page\` printed warnings:"
  printf '%s\n' "$warnings" | sed 's/^/    /' >&2
fi

# --- 4. man(1) warnings ----------------------------------------------------------------

if command -v man >/dev/null 2>&1; then
  if ! warnings=$(MANPAGER=cat PAGER=cat man --warnings -l "$page" 2>&1 >/dev/null); then
    fail "\`man --warnings -l $page\` exited with an error"
  fi
  if [[ -n $warnings ]]; then
    fail "\`man --warnings -l $page\` printed warnings:"
    printf '%s\n' "$warnings" | sed 's/^/    /' >&2
  fi
fi

if [[ $failed -ne 0 ]]; then
  exit 1
fi
echo "check_man: ok ($nflags flags)"
