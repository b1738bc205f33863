// DNS discovery (app/dns_resolver.hpp) against a test DNS server (support/stub_dns.hpp): every
// address of a name, re-resolution after the TTL with the change reported, the last addresses
// kept when a name stops resolving, lookups never made per call, and a resolver that does not
// answer never holding up a start or a stop.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "dns_resolver.hpp"
#include "support/deadline.hpp"
#include "support/stub_dns.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using app::Addresses;
using app::DnsName;
using app::DnsResolver;
using Clock = std::chrono::steady_clock;

std::vector<std::string> texts(const Addresses& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses)
    out.push_back(a.to_string());
  return out;
}

// What on_change reported, waited for with a deadline.
class Changes {
 public:
  DnsResolver::OnChange callback() {
    return [this](const DnsName& name, const Addresses& addresses) {
      std::lock_guard lock(mutex_);
      seen_.push_back(name.host + " " + std::to_string(addresses.size()) + " " +
                      (addresses.empty() ? "" : addresses.front().to_string()));
      cv_.notify_all();
    };
  }
  testing::AssertionResult wait_for(const std::string& entry) {
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, kDeadline,
                     [&] { return std::find(seen_.begin(), seen_.end(), entry) != seen_.end(); })) {
      return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "no change \"" << entry << "\" within the deadline";
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

// Waits until the resolver finished `n` more lookups than `from` (answers or failures).
testing::AssertionResult wait_lookups(const DnsResolver& r, std::uint64_t from, std::uint64_t n) {
  const auto until = Clock::now() + kDeadline;
  while (Clock::now() < until) {
    if (r.lookups() >= from + n) return testing::AssertionSuccess();
    std::this_thread::sleep_for(5ms);  // polling a counter with a deadline, not a sleep-and-hope
  }
  return testing::AssertionFailure() << "only " << r.lookups() - from << " lookups of " << n;
}

TEST(DnsResolver, EveryAddressOfANameIsFound) {
  StubDns dns;
  dns.set("api.test", {"127.0.0.2", "127.0.0.1"}, 30);
  DnsResolver resolver(dns.address(), nullptr);
  resolver.watch({DnsName{"api.test", 9000, 5s}});
  ASSERT_TRUE(resolver.wait_first_answers(kDeadline));
  EXPECT_EQ(texts(resolver.addresses("api.test", 9000)),
            (std::vector<std::string>{"127.0.0.1", "127.0.0.2"}));
  EXPECT_TRUE(resolver.addresses("api.test", 9001).empty()) << "another port is another entry";
}

TEST(DnsResolver, ReResolvesAfterTheTtlAndReportsTheChange) {
  StubDns dns;
  dns.set("api.test", {"127.0.0.1"}, 1);  // TTL 1 s: the shortest refresh there is
  Changes changes;
  DnsResolver resolver(dns.address(), changes.callback());
  resolver.watch({DnsName{"api.test", 9000, 60s}});
  ASSERT_TRUE(resolver.wait_first_answers(kDeadline));
  ASSERT_TRUE(changes.wait_for("api.test 1 127.0.0.1"));
  dns.set("api.test", {"127.0.0.3"}, 1);
  // The TTL (1 s), not resolve_every (60 s), decides when it is asked again.
  EXPECT_TRUE(changes.wait_for("api.test 1 127.0.0.3"));
  EXPECT_EQ(texts(resolver.addresses("api.test", 9000)), std::vector<std::string>{"127.0.0.3"});
}

TEST(DnsResolver, ANameThatStopsResolvingKeepsItsLastAddresses) {
  StubDns dns;
  dns.set("api.test", {"127.0.0.1", "127.0.0.2"}, 1);
  Changes changes;
  DnsResolver resolver(dns.address(), changes.callback());
  resolver.watch({DnsName{"api.test", 9000, 1s}});
  // The first answer is a change too, reported after the answer is stored: wait for it.
  ASSERT_TRUE(changes.wait_for("api.test 2 127.0.0.1"));
  const std::size_t reported = changes.count();
  dns.remove("api.test");  // NXDOMAIN from now on
  const std::uint64_t before = resolver.lookups();
  ASSERT_TRUE(wait_lookups(resolver, before, 2));  // two failed lookups at least
  EXPECT_EQ(texts(resolver.addresses("api.test", 9000)),
            (std::vector<std::string>{"127.0.0.1", "127.0.0.2"}));
  EXPECT_EQ(changes.count(), reported) << "a failure is not a change";
  dns.set("api.test", {"127.0.0.4"}, 1);
  EXPECT_TRUE(changes.wait_for("api.test 1 127.0.0.4")) << "and it comes back when it resolves";
}

TEST(DnsResolver, ReadingAddressesNeverQueries) {
  StubDns dns;
  dns.set("api.test", {"127.0.0.1"}, 3600);
  DnsResolver resolver(dns.address(), nullptr);
  resolver.watch({DnsName{"api.test", 9000, 1h}});
  ASSERT_TRUE(resolver.wait_first_answers(kDeadline));
  const std::uint64_t queries = dns.queries("api.test");
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(resolver.addresses("api.test", 9000).size(), 1u);
  EXPECT_EQ(dns.queries("api.test"), queries) << "a request's lookup is a cache read";
}

TEST(DnsResolver, ANameNoLongerWatchedIsForgotten) {
  StubDns dns;
  dns.set("a.test", {"127.0.0.1"}, 30);
  dns.set("b.test", {"127.0.0.2"}, 30);
  DnsResolver resolver(dns.address(), nullptr);
  resolver.watch({DnsName{"a.test", 80, 5s}});
  ASSERT_TRUE(resolver.wait_first_answers(kDeadline));
  resolver.watch({DnsName{"b.test", 80, 5s}, DnsName{"a.test", 80, 5s}});
  ASSERT_TRUE(resolver.wait_first_answers(kDeadline));
  EXPECT_EQ(texts(resolver.addresses("b.test", 80)), std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(dns.queries("a.test"), 1u) << "a name watched again keeps its answer";
  resolver.watch({DnsName{"b.test", 80, 5s}});
  EXPECT_TRUE(resolver.addresses("a.test", 80).empty());
}

TEST(DnsResolver, AServerThatNeverAnswersHoldsUpNeitherTheStartNorTheStop) {
  StubDns dns;
  dns.silent(true);
  const auto started = Clock::now();
  {
    DnsResolver resolver(dns.address(), nullptr);
    resolver.watch({DnsName{"api.test", 9000, 5s}});
    EXPECT_FALSE(resolver.wait_first_answers(200ms)) << "the wait is bounded";
    EXPECT_TRUE(resolver.addresses("api.test", 9000).empty());
    ASSERT_GE(dns.queries("api.test"), 1u);
  }  // destroyed with the query in flight: cancelled, not waited for
  EXPECT_LT(Clock::now() - started, kDeadline);
}

}  // namespace
}  // namespace sluice::test
