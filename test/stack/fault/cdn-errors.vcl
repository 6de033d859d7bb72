vcl 4.1;
# Fault injection: the CDN answers 503 to everything but /_ping, with the
# Fastly-like headers, as a CDN does when it cannot reach any origin.
# Loaded by test/stack/fault/cdn.sh errors on; never shipped.
backend none none;

sub vcl_recv {
    if (req.url == "/_ping") {
        return (synth(200, "OK"));
    }
    return (synth(503, "Backend unavailable (injected by test/stack fault cdn errors)"));
}

sub vcl_synth {
    set resp.http.X-Served-By = "cache-" + server.identity + "-LCL";
    set resp.http.X-Cache = "MISS";
    set resp.http.X-Cache-Hits = "0";
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    set resp.body = resp.reason + {"
"};
    return (deliver);
}
