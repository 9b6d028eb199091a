# Sourced by scripts/start-redis and scripts/start-postgres.
#
# random_test_port: prints a random TCP port below the kernel's ephemeral range (ip_local_port_range, usually
# 32768-60999), from 10000 up. A port inside that range can be taken at any moment by the local end of an outgoing
# connection (a test client's, say), after which a server binding 127.0.0.1 on it fails: PostgreSQL then starts
# on ::1 alone and refuses every connection to 127.0.0.1, and a store restarted on its old port can find the port
# gone. Below the range only listeners compete, and port_in_use sees those.
random_test_port() {
    local low=10000 high=32768 range
    if range=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null); then
        high=${range%%[[:space:]]*}
        [ "$high" -gt $((low + 1000)) ] 2>/dev/null || high=32768
    fi
    echo $(( low + (RANDOM * 32768 + RANDOM) % (high - low) ))
}

# port_in_use PORT: true when something listens on 127.0.0.1:PORT
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
