#pragma once
// OpenSSL's failures as error codes. Every SSL call on a connection reads the thread's error
// queue, which other connections of the same worker also write to: clear_tls_errors() before
// each call, tls_error_from_queue() right after a failure.
#include <boost/system/error_code.hpp>
#include <string>

namespace sluice {

void clear_tls_errors();

// The oldest error in the thread's queue (then cleared), as a code whose message is OpenSSL's
// reason: "wrong version number", "http request", ...
boost::system::error_code tls_error_from_queue();

// A failed certificate verification (X509_V_ERR_*): "certificate verify failed: unable to get
// local issuer certificate".
boost::system::error_code certificate_verify_error(long x509_result);

// Whether `ec` is one of the two above.
bool is_tls_error(boost::system::error_code ec);

// "file: reason (library)" from the thread's error queue (then cleared), for configuration
// errors.
std::string describe_tls_failure(const std::string& what);

}  // namespace sluice
