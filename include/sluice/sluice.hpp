#pragma once
// Umbrella include for programs that embed sluice.
#include "sluice/admin.hpp"
#include "sluice/error.hpp"
#include "sluice/events.hpp"
#include "sluice/exchange.hpp"
#include "sluice/message.hpp"
#include "sluice/metrics.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "sluice/url.hpp"
