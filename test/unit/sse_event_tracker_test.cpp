// Event boundaries and the last event ID of a text/event-stream (issue 14), and the BOM filter
// for a stream spliced in after a resume.
#include "proxy/sse_event_tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace {

using namespace std::string_literals;

// Feeds `chunks` in order and returns what each feed() returned.
std::vector<std::size_t> feed_all(SseEventTracker& t, const std::vector<std::string>& chunks) {
  std::vector<std::size_t> out;
  for (const auto& c : chunks)
    out.push_back(t.feed(c));
  return out;
}

TEST(SseEventTracker, NothingFedIsABoundary) {
  SseEventTracker t;
  EXPECT_TRUE(t.at_event_boundary());
  EXPECT_EQ(t.feed(""), 0u);
  EXPECT_TRUE(t.at_event_boundary());
  EXPECT_EQ(t.last_event_id(), "");
  EXPECT_TRUE(t.last_event_id_known());
}

TEST(SseEventTracker, LfEndedEvents) {
  SseEventTracker t;
  EXPECT_EQ(t.feed("data: a\n\ndata: b\n"), 9u);
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\n"), 1u);
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, CrlfEndedEvents) {
  SseEventTracker t;
  // The boundary is right after the CR of the empty line, and still after its LF.
  EXPECT_EQ(t.feed("data: a\r\n\r\ndata: b\r\n"), 11u);
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\r"), 1u);
  EXPECT_TRUE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\n"), 1u);
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, CrEndedEvents) {
  SseEventTracker t;
  EXPECT_EQ(t.feed("data: a\r\rdata: b\r"), 9u);
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\r"), 1u);
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, MixedLineEnds) {
  SseEventTracker t;
  // "data: a" CRLF, empty line LF; "data: b" CR, empty line CRLF; "data: c" LF, empty line CR.
  const std::string s = "data: a\r\n\ndata: b\r\r\ndata: c\n\r";
  EXPECT_EQ(t.feed(s), s.size());
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, LfOfACrlfSplitAcrossChunksEndsNoLine) {
  SseEventTracker t;
  EXPECT_EQ(feed_all(t, {"data: a\r", "\n", "\n"}), (std::vector<std::size_t>{0, 0, 1}));
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, CommentsBetweenEventsAreBoundariesButNotInsideOne) {
  SseEventTracker t;
  EXPECT_EQ(t.feed(":keepalive\n"), 11u);
  EXPECT_TRUE(t.at_event_boundary());
  EXPECT_EQ(t.feed(":half a comm"), 0u);
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("ent\n"), 4u);
  EXPECT_EQ(t.feed("data: a\n:inside\n"), 0u);
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\n:after\n"), 8u);
  EXPECT_TRUE(t.at_event_boundary());
}

TEST(SseEventTracker, FieldsWithoutColonAndDatalessEvents) {
  SseEventTracker t;
  EXPECT_EQ(t.feed("data\n"), 0u);  // a field named "data" with an empty value
  EXPECT_EQ(t.feed("\n"), 1u);
  EXPECT_EQ(t.feed("event: ping\n"), 0u);  // no data: nothing fires, but it is still an event
  EXPECT_EQ(t.feed("\n"), 1u);
  EXPECT_EQ(t.feed("retry: 10\nfoo\n\n"), 15u);
}

TEST(SseEventTracker, AHeartbeatAfterATrailingCrIsHarmless) {
  // After "\n\r" the CR ended an empty line. The heartbeat goes out before the LF that would
  // have been the CRLF's second half; to the client that LF is one more empty line, which
  // dispatches nothing new. Fed or not, the tracker stays at a boundary with the same ID.
  for (const bool feed_heartbeat : {false, true}) {
    SseEventTracker t;
    EXPECT_EQ(t.feed("id: 7\ndata: a\n\r"), 15u);
    ASSERT_TRUE(t.at_event_boundary());
    if (feed_heartbeat) {
      EXPECT_EQ(t.feed(":\n\n"), 3u);
    }
    EXPECT_EQ(t.feed("\n"), 1u);
    EXPECT_TRUE(t.at_event_boundary());
    EXPECT_EQ(t.last_event_id(), "7");
    EXPECT_EQ(t.feed("data: b\n\n"), 9u);
    EXPECT_EQ(t.last_event_id(), "7");
  }
}

TEST(SseEventTracker, IdIsCommittedOnlyAtDispatch) {
  SseEventTracker t;
  t.feed("id: 1\ndata: a\n");
  EXPECT_EQ(t.last_event_id(), "");  // the event is not finished: the client would send none
  t.feed("\n");
  EXPECT_EQ(t.last_event_id(), "1");
  t.feed("data: b\n\n");  // no id: the buffer is kept
  EXPECT_EQ(t.last_event_id(), "1");
  t.feed("id: 2\n");
  EXPECT_EQ(t.last_event_id(), "1");
  t.feed("\n");  // a data-less event still commits the ID
  EXPECT_EQ(t.last_event_id(), "2");
}

TEST(SseEventTracker, EmptyIdResetsTheId) {
  SseEventTracker t;
  t.feed("id: 1\n\n");
  ASSERT_EQ(t.last_event_id(), "1");
  t.feed("id:\ndata: x\n\n");
  EXPECT_EQ(t.last_event_id(), "");
  t.feed("id: 2\n\nid\n\n");  // "id" without a colon: the value is empty too
  EXPECT_EQ(t.last_event_id(), "");
  EXPECT_TRUE(t.last_event_id_known());
}

TEST(SseEventTracker, IdWithNulIsIgnored) {
  SseEventTracker t;
  t.feed("id: 1\n\n");
  t.feed("id: a\0b\ndata: x\n\n"s);
  EXPECT_EQ(t.last_event_id(), "1");
  t.feed("id: \0\n\n"s);
  EXPECT_EQ(t.last_event_id(), "1");
}

TEST(SseEventTracker, OnlyOneLeadingSpaceOfTheValueIsRemoved) {
  SseEventTracker t;
  t.feed("id:  x\n\n");
  EXPECT_EQ(t.last_event_id(), " x");
  t.feed("id:y \n\n");
  EXPECT_EQ(t.last_event_id(), "y ");
  t.feed("id: \n\n");
  EXPECT_EQ(t.last_event_id(), "");
}

TEST(SseEventTracker, OnlyTheFieldNamedIdSetsTheId) {
  SseEventTracker t;
  t.feed("id: 1\n\n");
  t.feed("idx: 2\nid : 3\ni: 4\nID: 5\n:id: 6\ndata: id: 7\n\n");
  EXPECT_EQ(t.last_event_id(), "1");
}

TEST(SseEventTracker, TheLastIdOfAnEventWins) {
  SseEventTracker t;
  t.feed("id: 1\nid: 2\n\n");
  EXPECT_EQ(t.last_event_id(), "2");
}

TEST(SseEventTracker, IdSplitAcrossChunks) {
  SseEventTracker t;
  for (const char c : "id: abc\r\n\r\n"s)
    t.feed(std::string_view(&c, 1));
  EXPECT_EQ(t.last_event_id(), "abc");
}

TEST(SseEventTracker, IdOfTheBoundLengthIsKnown) {
  SseEventTracker t;
  const std::string id(SseEventTracker::kMaxIdBytes, 'x');
  t.feed("id: " + id + "\n\n");
  EXPECT_TRUE(t.last_event_id_known());
  EXPECT_EQ(t.last_event_id(), id);
}

TEST(SseEventTracker, OverlongIdIsUnknownUntilALaterIdIsDispatched) {
  SseEventTracker t;
  t.feed("id: 1\n\n");
  const std::string id(SseEventTracker::kMaxIdBytes + 1, 'x');
  t.feed("id: " + id.substr(0, 600));
  t.feed(id.substr(600) + "\n");
  EXPECT_TRUE(t.last_event_id_known());  // not dispatched yet
  EXPECT_EQ(t.last_event_id(), "1");
  t.feed("\n");
  EXPECT_FALSE(t.last_event_id_known());
  EXPECT_EQ(t.last_event_id(), "");
  t.feed("data: a\n\n");  // the client still holds the long ID
  EXPECT_FALSE(t.last_event_id_known());
  t.feed("id: 2\n");
  EXPECT_FALSE(t.last_event_id_known());
  t.feed("\n");
  EXPECT_TRUE(t.last_event_id_known());
  EXPECT_EQ(t.last_event_id(), "2");
  t.feed("id: " + id + "\n\nid:\n\n");  // an empty id is known too
  EXPECT_TRUE(t.last_event_id_known());
  EXPECT_EQ(t.last_event_id(), "");
}

TEST(SseEventTracker, OverlongIdWithNulIsIgnored) {
  SseEventTracker t;
  t.feed("id: 1\n\n");
  t.feed("id: " + std::string(SseEventTracker::kMaxIdBytes + 1, 'x') + "\0\n\n"s);
  EXPECT_TRUE(t.last_event_id_known());
  EXPECT_EQ(t.last_event_id(), "1");
}

TEST(SseEventTracker, LeadingBomIsIgnored) {
  SseEventTracker t;
  EXPECT_EQ(t.feed("\xEF"), 0u);  // may still be a BOM, or the start of a field name
  EXPECT_FALSE(t.at_event_boundary());
  EXPECT_EQ(t.feed("\xBB\xBF"), 2u);
  EXPECT_TRUE(t.at_event_boundary());
  t.feed("id: 1\n\n");
  EXPECT_EQ(t.last_event_id(), "1");
}

TEST(SseEventTracker, BytesThatAreNotABomBeginTheFirstLine) {
  {
    SseEventTracker t;  // the field name is "\xEF\xBBid", not "id"
    EXPECT_EQ(t.feed("\xEF\xBB"), 0u);
    EXPECT_EQ(t.feed("id: 1\n"), 0u);
    EXPECT_EQ(t.feed("\n"), 1u);
    EXPECT_EQ(t.last_event_id(), "");
  }
  {
    SseEventTracker t;  // a second BOM is not ignored
    t.feed("\xEF\xBB\xBF\xEF\xBB\xBFid: 1\n\n");
    EXPECT_EQ(t.last_event_id(), "");
  }
  {
    SseEventTracker t;  // a BOM-like prefix followed by a line end: a line of one field
    EXPECT_EQ(t.feed("\xEF\n"), 0u);
    EXPECT_EQ(t.feed("\n"), 1u);
  }
}

// A fixed stream, as pieces each marked with whether the stream is at a boundary after it and
// which last event ID holds from its end. Every boundary and every dispatch falls on the end of
// a piece, so the expected answer at any offset follows from the pieces alone.
struct Piece {
  std::string bytes;
  bool boundary_after;
  std::string id_after;
};

const std::vector<Piece>& fixed_stream() {
  static const std::vector<Piece> pieces = {
      {"\xEF\xBB\xBF", true, ""},
      {":hello\r", true, ""},
      {"\n", true, ""},  // the LF of a CRLF: still a boundary
      {"id: 1\r\n", false, ""},
      {"data: one\r\n", false, ""},
      {":inside\n", false, ""},
      {"\r", true, "1"},
      {"\n", true, "1"},
      {"data: two\r", false, "1"},
      {"event: x\r", false, "1"},
      {"\r", true, "1"},
      {"id:  spaced\r", false, "1"},
      {"\r", true, " spaced"},  // a data-less event commits the ID
      {"\n", true, " spaced"},
      {"id\n", false, " spaced"},
      {"data\n", false, " spaced"},
      {"\n", true, ""},
      {"id: 3\n", false, ""},
      {"\n", true, "3"},
      {"\n", true, "3"},
      {"id: a\0b\n"s, false, "3"},
      {"idx: 9\r\n", false, "3"},
      {"i: 8\n", false, "3"},
      {"data: x\n", false, "3"},
      {"\r", true, "3"},
      {"\n", true, "3"},
      {":c\r", true, "3"},
      {"\n", true, "3"},
      {"id: 4\n", false, "3"},
      {"data: partial", false, "3"},
  };
  return pieces;
}

struct Expected {
  std::string stream;
  std::set<std::size_t> boundaries;  // offsets > 0 at which the stream is at a boundary
  std::vector<std::string> id_at;    // the last event ID at each offset 0..size
};

Expected expected_of_fixed_stream() {
  Expected e;
  e.id_at.push_back("");
  for (const Piece& p : fixed_stream()) {
    // Inside a piece, the ID of the previous piece's end holds.
    const std::string before = e.id_at.back();
    e.stream += p.bytes;
    e.id_at.resize(e.stream.size(), before);
    e.id_at.push_back(p.id_after);
    if (p.boundary_after) e.boundaries.insert(e.stream.size());
  }
  return e;
}

bool is_boundary(const Expected& e, std::size_t offset) {
  return offset == 0 || e.boundaries.contains(offset);
}

// What feed() must return for the chunk [from, to) of the stream: the last boundary in it.
std::size_t expected_feed(const Expected& e, std::size_t from, std::size_t to) {
  auto it = e.boundaries.upper_bound(to);
  if (it == e.boundaries.begin()) return 0;
  --it;
  return *it > from ? *it - from : 0;
}

// Feeds the stream cut at `cuts` (ascending offsets) and checks each chunk's answers.
void check_split(const Expected& e, const std::vector<std::size_t>& cuts) {
  SseEventTracker t;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(e.stream.size());
  for (const std::size_t to : ends) {
    const std::size_t n = t.feed(std::string_view(e.stream).substr(from, to - from));
    EXPECT_EQ(n, expected_feed(e, from, to)) << "chunk [" << from << ", " << to << ")";
    EXPECT_EQ(t.at_event_boundary(), is_boundary(e, to)) << "after offset " << to;
    EXPECT_EQ(t.last_event_id(), e.id_at[to]) << "after offset " << to;
    EXPECT_TRUE(t.last_event_id_known());
    from = to;
  }
}

TEST(SseEventTracker, ByteByByteMatchesTheExpectedBoundariesAndIds) {
  const Expected e = expected_of_fixed_stream();
  SseEventTracker t;
  std::set<std::size_t> reported;
  for (std::size_t i = 0; i < e.stream.size(); ++i) {
    const std::size_t n = t.feed(std::string_view(e.stream).substr(i, 1));
    ASSERT_LE(n, 1u);
    if (n == 1) reported.insert(i + 1);
    EXPECT_EQ(t.at_event_boundary(), n == 1) << "after offset " << i + 1;
    EXPECT_EQ(t.last_event_id(), e.id_at[i + 1]) << "after offset " << i + 1;
  }
  EXPECT_EQ(reported, e.boundaries);
  EXPECT_EQ(t.last_event_id(), "3");  // id 4 is in the unfinished event
}

TEST(SseEventTracker, WholeStreamInOneChunk) {
  const Expected e = expected_of_fixed_stream();
  check_split(e, {});
}

TEST(SseEventTracker, EverySplitIntoTwoChunks) {
  const Expected e = expected_of_fixed_stream();
  for (std::size_t i = 0; i <= e.stream.size(); ++i) {
    SCOPED_TRACE(i);
    check_split(e, {i});
  }
}

TEST(SseEventTracker, EverySplitIntoThreeChunks) {
  const Expected e = expected_of_fixed_stream();
  for (std::size_t i = 0; i <= e.stream.size(); ++i) {
    for (std::size_t j = i; j <= e.stream.size(); ++j) {
      SCOPED_TRACE(testing::Message() << i << ", " << j);
      check_split(e, {i, j});
      if (testing::Test::HasFailure()) return;  // one failing split tells enough
    }
  }
}

// Runs `input` cut at `cuts` through a LeadingBomFilter and returns what it passed on.
std::string filtered(std::string_view input, const std::vector<std::size_t>& cuts) {
  LeadingBomFilter f;
  std::string out;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (const std::size_t to : ends) {
    const LeadingBomFilter::Output o = f.filter(input.substr(from, to - from));
    out.append(o.held);
    out.append(o.rest);
    from = to;
  }
  out.append(f.finish());
  return out;
}

TEST(LeadingBomFilter, DropsOneLeadingBomAndPassesEverythingElseAtEverySplit) {
  struct Case {
    std::string input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"\xEF\xBB\xBF"
       "data: x\n\n",
       "data: x\n\n"},
      {"\xEF\xBB\xBF", ""},
      {"\xEF\xBB\xBF\xEF\xBB\xBF"
       "data",
       "\xEF\xBB\xBF"
       "data"},  // only one
      {"\xEF\xBB\x41"
       "bc",
       "\xEF\xBB\x41"
       "bc"},
      {"\xEF\x41", "\xEF\x41"},
      {"\xEF\xEF\xBB\xBF", "\xEF\xEF\xBB\xBF"},  // a BOM only counts at the very start
      {"\xEF\xBB", "\xEF\xBB"},                  // the stream ends inside what might be one
      {"\xEF", "\xEF"},
      {"data: \xEF\xBB\xBF\n\n", "data: \xEF\xBB\xBF\n\n"},
      {"", ""},
  };
  for (const Case& c : cases) {
    for (std::size_t i = 0; i <= c.input.size(); ++i) {
      for (std::size_t j = i; j <= c.input.size(); ++j) {
        EXPECT_EQ(filtered(c.input, {i, j}), c.want)
            << "input of " << c.input.size() << " bytes cut at " << i << ", " << j;
      }
    }
  }
}

TEST(LeadingBomFilter, HeldBytesComeBackBeforeTheChunkThatDecides) {
  LeadingBomFilter f;
  LeadingBomFilter::Output o = f.filter("\xEF");
  EXPECT_EQ(o.held, "");
  EXPECT_EQ(o.rest, "");
  o = f.filter("\xBB");
  EXPECT_EQ(o.held, "");
  EXPECT_EQ(o.rest, "");
  o = f.filter("A\n");
  EXPECT_EQ(o.held, "\xEF\xBB");
  EXPECT_EQ(o.rest, "A\n");
  o = f.filter("\xEF\xBB\xBF");  // decided: passed on as it is
  EXPECT_EQ(o.held, "");
  EXPECT_EQ(o.rest, "\xEF\xBB\xBF");
  EXPECT_EQ(f.finish(), "");
}

}  // namespace
}  // namespace sluice
