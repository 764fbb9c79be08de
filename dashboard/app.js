/* The page: connection and token check, shared filters, user lookup, and each panel's
   request -> loading -> table/chart | empty | error cycle. */
(function (Dash) {
  "use strict";
  var el = Dash.el;
  var SHARED_FILTERS = ["start_date", "end_date", "platform", "device", "algorithm"];
  var PAGE_SIZES = [10, 25, 50, 100];
  var state = { host: null, token: null, readable: null, user: "", filters: {}, connectSeq: 0 };
  var panels = [];
  var $ = function (id) { return document.getElementById(id); };

  function setStatus(kind, text) {
    var status = $("status");
    status.dataset.state = kind;
    status.textContent = text;
  }

  // ---------------------------------------------------------------- panels

  function buildPanel(cfg) {
    var p = { cfg: cfg, seq: 0, offset: 0, limit: cfg.pageSize, controller: null, controls: {} };
    var controls = el("div", { "class": "controls" });
    (cfg.controls || []).forEach(function (c) {
      var input = c.options
        ? el.apply(null, ["select", { name: c.name }].concat(c.options.map(function (o) { return el("option", { value: o[0] }, o[1]); })))
        : el("input", { name: c.name, type: c.type || "text", placeholder: c.placeholder || "", min: c.type === "number" ? 1 : null, size: 6 });
      input.addEventListener("change", function () { p.offset = 0; load(p); });
      // Enter applies a typed value (blur fires the change event once).
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") input.blur(); });
      p.controls[c.name] = input;
      controls.append(el("label", {}, c.label + " ", input));
    });
    var size = el.apply(null, ["select", { name: "limit" }].concat(PAGE_SIZES.map(function (n) {
      return el("option", { value: n, selected: n === cfg.pageSize ? "selected" : null }, String(n));
    })));
    size.addEventListener("change", function () { p.limit = Number(size.value); p.offset = 0; load(p); });
    controls.append(el("label", {}, "Rows ", size));

    p.state = el("p", { "class": "state", role: "status" });
    p.chart = el("div", { "class": "chart-box" });
    p.table = el("table", {});
    p.prev = el("button", { type: "button", "class": "prev", onclick: function () { p.offset = Math.max(0, p.offset - p.limit); load(p); } }, "\u2190 Prev");
    p.next = el("button", { type: "button", "class": "next", onclick: function () { p.offset += p.limit; load(p); } }, "Next \u2192");
    p.range = el("span", { "class": "range" });
    p.curl = el("code", { "class": "curl" });
    p.json = el("a", { "class": "json", rel: "noopener noreferrer" }, ".json");
    p.csv = el("a", { "class": "csv", rel: "noopener noreferrer" }, ".csv");
    [p.json, p.csv].forEach(function (link) {
      link.addEventListener("click", function (e) {
        e.preventDefault();
        if (state.token && link.href) Dash.download(link.href, state.token);
      });
    });
    p.node = el("section", { "class": "panel", id: "panel-" + cfg.pipe, "data-pipe": cfg.pipe, "data-state": "idle" },
      el("h2", {}, cfg.title, " ", el("small", {}, cfg.pipe)),
      el("p", { "class": "blurb" }, cfg.blurb),
      controls,
      p.state,
      el("div", { "class": "body" + (cfg.chart && cfg.chartBeside !== false ? " has-chart" : "") },
        p.chart,
        el("div", { "class": "rows" }, el("div", { "class": "table-wrap" }, p.table), el("nav", { "class": "pager" }, p.prev, p.range, p.next))),
      el("div", { "class": "call" }, el("pre", {}, p.curl), el("span", { "class": "links" }, "Same call: ", p.json, " ", p.csv))
    );
    return p;
  }

  function setPanel(p, kind, text) {
    p.node.dataset.state = kind;
    p.node.setAttribute("aria-busy", kind === "loading" ? "true" : "false");
    p.state.textContent = text;
  }

  function clearResults(p) {
    Dash.replace(p.table);
    Dash.replace(p.chart);
    p.range.textContent = "";
    p.prev.disabled = true;
    p.next.disabled = true;
  }

  /** The endpoint's parameters, in a fixed order: shared filters, user, the panel's controls, paging. */
  function paramsFor(p) {
    var params = {};
    p.cfg.filters.forEach(function (name) { if (state.filters[name]) params[name] = state.filters[name]; });
    if (p.cfg.user) params.user_id = state.user;
    Object.keys(p.controls).forEach(function (name) {
      var value = p.controls[name].value.trim();
      if (value) params[name] = value;
    });
    params.limit = String(p.limit);
    params.offset = String(p.offset);
    return params;
  }

  function describeError(res, pipe) {
    var message = (res.body && res.body.error) || "";
    if (res.status === 0) return "Could not reach the host: " + res.error + ". Check the host, and that it answers CORS.";
    if (res.status === 401 || res.status === 403) {
      return "HTTP " + res.status + ": " + message + ". The token is wrong or cannot read " + pipe + ": use the endpoints_read token of this host.";
    }
    return "HTTP " + res.status + ": " + message;
  }

  function renderTable(p, columns, rows) {
    var format = p.cfg.format || {};
    var head = el("tr", {});
    columns.forEach(function (c) { head.append(el("th", { scope: "col" }, c)); });
    var body = el("tbody", {});
    rows.forEach(function (row) {
      var tr = el("tr", {});
      columns.forEach(function (c) {
        var text = format[c] ? format[c](row[c]) : Dash.show(row[c]);
        var cell = el("td", { "class": typeof row[c] === "number" ? "num" : null, title: text });
        if (c === p.cfg.lookupColumn) {
          cell.append(el("button", { type: "button", "class": "link", onclick: function () { lookUp(row[c]); } }, text));
        } else {
          cell.append(text);
        }
        tr.append(cell);
      });
      body.append(tr);
    });
    Dash.replace(p.table, el("thead", {}, head), body);
  }

  function render(p, params, body) {
    var rows = (body && body.data) || [];
    if (!rows.length) {
      clearResults(p);
      p.prev.disabled = p.offset === 0;
      if (p.offset > 0) setPanel(p, "empty", "No more rows: no events past row " + p.offset + ".");
      else setPanel(p, "empty", p.cfg.empty || "No events in this date range for these filters.");
      return;
    }
    renderTable(p, p.cfg.columns(params), rows);
    Dash.replace(p.chart, p.cfg.chart ? p.cfg.chart(rows, params) : null);
    p.range.textContent = "rows " + (p.offset + 1) + "\u2013" + (p.offset + rows.length);
    p.prev.disabled = p.offset === 0;
    p.next.disabled = rows.length < p.limit;
    var summary = p.cfg.summary ? " " + p.cfg.summary(rows) : "";
    setPanel(p, "ready", rows.length + (rows.length === 1 ? " row" : " rows") + " from " + p.cfg.pipe + "." + summary);
    if (p.cfg.pipe === "recommendation_performance") rememberAlgorithms(rows);
  }

  // A panel with nothing to show yet: no rows, no curl, no links, and why.
  function idle(p, message) {
    clearResults(p);
    p.curl.textContent = "";
    p.json.removeAttribute("href");
    p.csv.removeAttribute("href");
    setPanel(p, "idle", message);
  }

  function load(p) {
    if (p.controller) p.controller.abort();
    var seq = ++p.seq;
    if (!state.token) return idle(p, "Waiting for a read token.");
    if (state.readable && !state.readable.has(p.cfg.pipe)) return idle(p, "This token (a JWT) cannot read " + p.cfg.pipe + ".");
    if (p.cfg.user && !state.user) return idle(p, "Look up a user above.");
    var params = paramsFor(p);
    var call = Dash.buildCall(state.host, state.token, p.cfg.pipe, params);
    p.curl.textContent = call.curl;
    p.json.href = call.jsonHref;
    p.csv.href = call.csvHref;
    setPanel(p, "loading", "Loading " + p.cfg.pipe + "\u2026");
    p.controller = new AbortController();
    Dash.get(call.url, state.token, p.controller.signal).then(function (res) {
      if (seq !== p.seq) return; // a newer request of this panel owns it now
      if (!res.ok) {
        clearResults(p);
        setPanel(p, "error", describeError(res, p.cfg.pipe));
        if (res.status === 401 || res.status === 403) setStatus("error", "The host rejected the token: " + ((res.body && res.body.error) || "HTTP " + res.status) + ".");
        return;
      }
      render(p, params, res.body);
    }).catch(function (err) {
      if (err && err.name === "AbortError") return;
      if (seq !== p.seq) return;
      clearResults(p);
      setPanel(p, "error", "Could not show " + p.cfg.pipe + ": " + String(err && err.message || err));
    });
  }

  function loadAll(filter) {
    panels.forEach(function (p) { if (!filter || filter(p)) { p.offset = 0; load(p); } });
  }

  function rememberAlgorithms(rows) {
    var list = $("algorithms");
    var known = new Set([].map.call(list.options, function (o) { return o.value; }));
    rows.forEach(function (r) {
      if (!known.has(r.algorithm)) { known.add(r.algorithm); list.append(el("option", { value: r.algorithm })); }
    });
  }

  // ---------------------------------------------------------------- connection, filters, lookup

  function forgetToken(message) {
    state.token = null;
    $("token").value = "";
    var fragment = new URLSearchParams(location.hash.slice(1));
    if (fragment.has("token")) {
      fragment.delete("token");
      history.replaceState(null, "", location.pathname + location.search + (fragment.toString() ? "#" + fragment : ""));
    }
    setStatus("refused", message);
    loadAll();
  }

  function connect() {
    var seq = ++state.connectSeq, host, token = $("token").value.trim();
    state.token = null;
    try {
      host = Dash.normalizeHost($("host").value);
    } catch (e) {
      setStatus("error", "The host is not a valid URL: " + e.message);
      return;
    }
    if (!token) { setStatus("idle", "Enter a read token (endpoints_read)."); loadAll(); return; }
    setStatus("loading", "Checking the token on " + host + "\u2026");
    loadAll(); // panels wait while the token is checked
    Dash.checkToken(host, token).then(function (check) {
      if (seq !== state.connectSeq) return;
      if (check.verdict === "admin") {
        forgetToken("Refused: this token can list the workspace's tokens (GET /v0/tokens answered 200), so it is an admin token. " +
          "This page only uses a read token: use endpoints_read, which can read the six endpoints and nothing else.");
        return;
      }
      if (check.verdict === "unreachable") {
        setStatus("error", "Could not reach " + host + ": " + check.message + ". Check the host, and that it answers CORS.");
        return;
      }
      if (check.verdict === "unknown") {
        setStatus("error", "Could not check the token's scopes on " + host + " (" + check.message + "), so it is not used.");
        return;
      }
      state.host = host;
      state.token = token;
      var jwt = readableBy(token);
      setStatus("ok", "Connected to " + host + " with token " + Dash.mask(token) + " (it cannot list tokens: not an admin token)." + jwt);
      loadAll();
    });
  }

  /** A per-user JWT reads only its scopes' pipes, with user_id fixed: remember them and look that user up. */
  function readableBy(token) {
    var claims = Dash.jwtClaims(token);
    state.readable = null;
    if (!claims || !Array.isArray(claims.scopes)) return "";
    var pipes = claims.scopes.filter(function (s) { return s && s.type === "PIPES:READ"; });
    state.readable = new Set(pipes.map(function (s) { return s.resource; }));
    var fixed = pipes.map(function (s) { return s.fixed_params && s.fixed_params.user_id; }).filter(Boolean);
    if (fixed.length) $("user-id").value = state.user = String(fixed[0]);
    return " A JWT for " + Array.from(state.readable).join(", ") + (fixed.length ? ", fixed to user " + fixed[0] + "." : ".");
  }

  function readFilters() {
    var form = $("filters"), filters = {};
    SHARED_FILTERS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) filters[name] = value;
    });
    state.filters = filters;
  }

  function lookUp(user) {
    $("user-id").value = user;
    state.user = String(user).trim();
    loadAll(function (p) { return p.cfg.user; });
    $("user-lookup").scrollIntoView({ block: "start" });
  }

  function start() {
    var fragment = new URLSearchParams(location.hash.slice(1));
    var here = location.protocol === "http:" || location.protocol === "https:" ? location.origin : "http://127.0.0.1:7181";
    $("host").value = fragment.get("host") || here;
    Dash.PANELS.forEach(function (cfg) {
      var p = buildPanel(cfg);
      panels.push(p);
      $(cfg.user ? "user-panels" : "overview").append(p.node);
    });
    $("connect").addEventListener("submit", function (e) { e.preventDefault(); connect(); });
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); readFilters(); loadAll(); });
    $("user-form").addEventListener("submit", function (e) { e.preventDefault(); lookUp($("user-id").value); });
    readFilters();
    if (fragment.get("user")) $("user-id").value = state.user = fragment.get("user");
    if (fragment.get("token")) {
      $("token").value = fragment.get("token");
      connect();
    } else {
      loadAll();
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})(window.Dash = window.Dash || {});
