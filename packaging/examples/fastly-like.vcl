vcl 4.1;
# A Fastly-like CDN in front of an npm-style registry, for Varnish 6/7.
#
# Tarballs (/<name>/-/<name>-<version>.tgz) go round-robin to the nginx tarball
# origins (see nginx-tarball-origin.conf) and are cached long: a published
# tarball never changes. Package documents (/<name>) come straight from the
# CouchDB primary's registry database and are cached briefly, as the public
# registry's CDN does, so a publish shows up within @@META_TTL@@.
#
# The response headers are the ones Fastly sends and that the registry's CDN
# checks read, so a check tested against this VCL reads a real Fastly too:
#   X-Served-By   cache-<identity>-<POP>  (varnishd -i sets the identity)
#   X-Cache       HIT or MISS
#   X-Cache-Hits  hits of the object served
#   Age           seconds the object has been in cache (set by Varnish)
#   X-Timer       S<start epoch>,VS0,VE<milliseconds spent>
# X-Tarball-Source from the origin is passed through (and cached with the
# object), so a check through the CDN still sees which source an origin used.
# GET /_ping answers 200 from the CDN itself, for liveness checks.
#
# Placeholders (replace them; test/stack renders this very file with sed):
#   @@ORIGIN1_HOST@@ @@ORIGIN1_PORT@@ @@ORIGIN2_HOST@@ @@ORIGIN2_PORT@@  tarball origins
#   @@COUCH_HOST@@ @@COUCH_PORT@@   the CouchDB primary (package documents)
#   @@COUCH_DB@@                    its registry database, e.g. registry
#   @@POP@@                         a POP code for X-Served-By, e.g. LCL
#   @@META_TTL@@ @@TARBALL_TTL@@    cache lifetimes, e.g. 10s and 365d

import directors;
import std;

probe origin_health {
    .url = "/-/origin-health";
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

probe couch_health {
    .url = "/";
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

backend origin1 {
    .host = "@@ORIGIN1_HOST@@";
    .port = "@@ORIGIN1_PORT@@";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .probe = origin_health;
}

backend origin2 {
    .host = "@@ORIGIN2_HOST@@";
    .port = "@@ORIGIN2_PORT@@";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .probe = origin_health;
}

backend couch_primary {
    .host = "@@COUCH_HOST@@";
    .port = "@@COUCH_PORT@@";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .probe = couch_health;
}

sub vcl_init {
    new tarballs = directors.round_robin();
    tarballs.add_backend(origin1);
    tarballs.add_backend(origin2);
}

sub vcl_recv {
    if (req.url == "/_ping") {
        return (synth(200, "OK"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "Method Not Allowed"));
    }
    # A public registry's answers are the same for everyone: client
    # credentials and cookies must neither reach the origin nor split the cache.
    unset req.http.Authorization;
    unset req.http.Cookie;
    if (req.url ~ "^/[^/@][^/]*/-/[^/?]+\.tgz(\?.*)?$") {
        set req.backend_hint = tarballs.backend();
    } else if (req.url ~ "^/[^/_?][^/?]*(\?.*)?$") {
        # /<name> -> /<db>/<name> on the primary.
        set req.url = "/@@COUCH_DB@@" + req.url;
        set req.backend_hint = couch_primary;
    } else {
        return (synth(404, "Not Found"));
    }
    return (hash);
}

sub vcl_backend_fetch {
    if (bereq.backend == couch_primary) {
        # CouchDB answers text/plain unless JSON is asked for; npm clients
        # expect application/json.
        set bereq.http.Accept = "application/json";
    }
}

sub vcl_backend_response {
    unset beresp.http.Set-Cookie;
    if (beresp.status >= 500) {
        # Never keep an origin's error; retry it on the next request.
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    if (bereq.url ~ "\.tgz(\?.*)?$") {
        if (beresp.status == 200) {
            set beresp.ttl = @@TARBALL_TTL@@;
        } else {
            set beresp.ttl = 5s;
        }
        set beresp.http.Cache-Control = "public, max-age=300";
    } else {
        set beresp.ttl = @@META_TTL@@;
        set beresp.http.Cache-Control = "public, max-age=300";
    }
    # Serve the stale copy for a while when the backend is down, as a CDN does.
    set beresp.grace = 1h;
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Cache-Hits = obj.hits;
    set resp.http.X-Served-By = "cache-" + server.identity + "-@@POP@@";
    set resp.http.X-Timer = "S" + std.time2real(req.time, 0.0) + ",VS0,VE" +
        std.integer(real = std.real(duration = now - req.time) * 1000.0, fallback = 0);
    unset resp.http.Via;
    unset resp.http.X-Varnish;
    unset resp.http.X-Powered-By;
    unset resp.http.Server;
}

sub vcl_synth {
    set resp.http.X-Served-By = "cache-" + server.identity + "-@@POP@@";
    set resp.http.X-Cache = "MISS";
    set resp.http.X-Cache-Hits = "0";
    set resp.http.X-Timer = "S" + std.time2real(req.time, 0.0) + ",VS0,VE0";
    unset resp.http.Server;
    unset resp.http.X-Varnish;
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    set resp.body = resp.reason + {"
"};
    return (deliver);
}
