// A C++17 client of lb through the RAII wrapper lb.hpp: picks report themselves
// as cancelled when a request is abandoned, and errors arrive as exceptions.
#include <lb.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

using namespace std::chrono_literals;

int main() {
    try {
        lb::Balancer balancer(lb::Strategy::WeightedResponseTime);
        balancer.set_instances({lb::make_instance(10), lb::make_instance(20, 2),
                                lb::make_instance(30, 1, 8)});
        balancer.set_option(LB_OPTION_PANIC_THRESHOLD, 0.3);

        for (int n = 0; n < 500; n++) {
            lb::Pick pick = balancer.select();
            if (n % 50 == 49) {
                continue;  // abandoned: the destructor reports it cancelled
            }
            const auto latency = std::chrono::microseconds(100 * (pick.instance_id() / 10));
            if (pick.instance_id() == 30 && n % 5 == 0) {
                pick.failure(latency);
            } else {
                pick.success(latency);
            }
        }

        const lb::Stats stats = balancer.stats();
        std::printf("lb %s: %llu requests, %llu served, %llu failed, %llu cancelled\n",
                    lb::version(), static_cast<unsigned long long>(stats.total_requests),
                    static_cast<unsigned long long>(stats.successes),
                    static_cast<unsigned long long>(stats.failures),
                    static_cast<unsigned long long>(stats.cancelled));
        for (const lb::Health &h : balancer.all_health()) {
            std::printf("  instance %llu: %llu requests, latency %.0f us\n",
                        static_cast<unsigned long long>(h.instance_id),
                        static_cast<unsigned long long>(h.requests), h.latency_ewma_us);
        }
        const bool balanced = stats.in_flight == 0 &&
                              stats.total_requests ==
                                  stats.successes + stats.failures + stats.cancelled;

        // Keyed selection: under Maglev a session's requests stay on one instance.
        lb::Balancer sticky(lb::Strategy::Maglev);
        sticky.set_instances({lb::make_instance(10), lb::make_instance(20), lb::make_instance(30)});
        const std::uint64_t session = lb::hash_bytes("session-7f3a9c");
        bool sticks = true;
        std::uint64_t home = 0;
        for (int n = 0; n < 5; n++) {
            lb::Pick pick = sticky.select_key(session);
            home = n == 0 ? pick.instance_id() : home;
            sticks = sticks && pick.instance_id() == home;
            pick.success(100us);
        }
        std::printf("  maglev: session-7f3a9c -> instance %llu, %s\n",
                    static_cast<unsigned long long>(home), sticks ? "every time" : "MOVED");
        return balanced && sticks ? 0 : 1;
    } catch (const lb::Error &e) {
        std::fprintf(stderr, "lb error: %s (status %u)\n", e.what(), e.status());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
