/* Talking to a Tinybird host: endpoint calls, the curl shown for each, and the token check.
   The token only ever goes to the host the user chose, in an Authorization header: it is never
   written into the page (the .json/.csv links carry no token; opening one fetches it with the header). */
(function (Dash) {
  "use strict";

  /** The origin of a host URL typed by the user; only http(s), so no javascript: link is ever built. */
  Dash.normalizeHost = function (text) {
    var url = new URL(String(text).trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("The host must start with http:// or https://");
    return url.origin;
  };

  /** The token as the page shows it: enough to tell tokens apart, never enough to use. */
  Dash.mask = function (token) {
    return token.length > 8 ? token.slice(0, 6) + "\u2026" : "\u2026";
  };

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  /** One endpoint call: the URL fetched, its curl with the token masked, and the same call as .json/.csv (no token). */
  Dash.buildCall = function (host, token, pipe, params) {
    var query = new URLSearchParams(params).toString();
    var base = host + "/v0/pipes/" + encodeURIComponent(pipe);
    var at = function (ext) { return base + ext + (query ? "?" + query : ""); };
    return {
      url: at(".json"),
      curl: "curl -H " + shellQuote("Authorization: Bearer " + Dash.mask(token)) + " " + shellQuote(at(".json")),
      jsonHref: at(".json"),
      csvHref: at(".csv"),
    };
  };

  /** Save what a "Same call" link answers: fetched with the token in a header, handed over as a blob: URL. */
  Dash.download = function (url, token) {
    return fetch(url, { headers: { Authorization: "Bearer " + token }, credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" })
      .then(function (res) { return res.blob(); })
      .then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = new URL(url).pathname.split("/").pop();
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
      });
  };

  /**
   * What a JWT says about itself (its payload, read without checking the signature: the host checks it),
   * or null for a static token. The page uses it only to leave out the panels the token cannot read.
   */
  Dash.jwtClaims = function (token) {
    var parts = token.split(".");
    if (parts.length !== 3 || token.slice(0, 3) !== "eyJ") return null;
    try {
      return JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
    } catch (e) {
      return null;
    }
  };

  /** GET url with the token; resolves to {status, ok, body} or {status: 0, error} when the host is unreachable. */
  Dash.get = function (url, token, signal) {
    return fetch(url, {
      headers: { Authorization: "Bearer " + token },
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      signal: signal,
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = { error: text.slice(0, 300) }; }
        return { status: res.status, ok: res.ok, body: body };
      });
    }, function (err) {
      if (err && err.name === "AbortError") throw err;
      return { status: 0, ok: false, error: String(err && err.message || err) };
    });
  };

  /**
   * Whether the token is safe for this page. A read token cannot list the workspace's tokens:
   * GET /v0/tokens answers 403 to it, on tblocal and on hosted Tinybird alike, while an admin
   * (or TOKENS-scoped) token gets 200. Anything else is an error: the page refuses to guess.
   */
  Dash.checkToken = function (host, token) {
    return Dash.get(host + "/v0/tokens", token).then(function (res) {
      if (res.status === 0) return { verdict: "unreachable", message: res.error };
      if (res.ok) return { verdict: "admin" };
      if (res.status === 401 || res.status === 403) return { verdict: "not-admin" };
      return { verdict: "unknown", message: "HTTP " + res.status + ": " + ((res.body && res.body.error) || "") };
    });
  };
})(window.Dash = window.Dash || {});
