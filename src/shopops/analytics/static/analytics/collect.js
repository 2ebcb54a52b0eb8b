/* shopops first-party analytics snippet. No dependencies, no third-party requests.
 *
 *   <script>window.shopops=window.shopops||function(){(shopops.q=shopops.q||[]).push(arguments)};</script>
 *   <script async src="https://BACK-OFFICE/static/analytics/collect.js"
 *           data-site="SITE_KEY" data-endpoint="https://BACK-OFFICE/collect/batch"></script>
 *
 *   shopops('track', 'add_to_cart', {product: 'A100', sku: 'A100-RED', amount: '99.00'});
 *   shopops('consent', true);          // when the site requires consent
 *   shopops('config', {autoPageView: false});
 *
 * Visitor id: first-party cookie `_so_vid` (2 years) mirrored in localStorage; session id: `_so_sid`
 * in sessionStorage, renewed after 30 idle minutes. Events are queued and sent as NDJSON with
 * navigator.sendBeacon (text/plain, no CORS preflight) every few seconds and when the page is hidden;
 * each event carries its own event_id, so a resend never counts twice. navigator.doNotTrack /
 * globalPrivacyControl stop everything.
 */
(function (w, d) {
  "use strict";
  var script = d.currentScript || d.querySelector("script[data-site]");
  if (!script) return;
  var site = script.getAttribute("data-site");
  var endpoint = script.getAttribute("data-endpoint") || "/collect/batch";
  var requireConsent = script.getAttribute("data-require-consent") === "true";
  var nav = w.navigator || {};
  var dnt = nav.doNotTrack === "1" || w.doNotTrack === "1" || nav.globalPrivacyControl === true;
  var queue = [];
  var consent = null;
  var options = { autoPageView: true, flushMs: 3000 };
  var SESSION_IDLE = 30 * 60 * 1000;
  var timer = null;

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var s = "";
    for (var i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
    return s.slice(0, 8) + "-" + s.slice(8, 12) + "-4" + s.slice(13, 16) + "-a" + s.slice(17, 20) + "-" + s.slice(20);
  }
  function cookie(name, value, days) {
    if (value === undefined) {
      var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
      return m ? decodeURIComponent(m[1]) : null;
    }
    var secure = w.location.protocol === "https:" ? "; Secure" : "";
    d.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + days * 86400 + "; Path=/; SameSite=Lax" + secure;
  }
  function store(area, name, value) {
    try {
      if (value === undefined) return w[area].getItem(name);
      w[area].setItem(name, value);
    } catch (e) { /* storage disabled */ }
    return null;
  }
  function visitorId() {
    var id = cookie("_so_vid") || store("localStorage", "_so_vid");
    if (!id) id = uuid();
    cookie("_so_vid", id, 730);
    store("localStorage", "_so_vid", id);
    return id;
  }
  function sessionId() {
    var now = Date.now();
    var raw = store("sessionStorage", "_so_sid");
    var parts = raw ? raw.split("|") : null;
    var id = parts && now - Number(parts[1]) < SESSION_IDLE ? parts[0] : uuid();
    store("sessionStorage", "_so_sid", id + "|" + now);
    return id;
  }
  function utm(name) {
    var m = w.location.search.match(new RegExp("[?&]" + name + "=([^&#]*)"));
    return m ? decodeURIComponent(m[1].replace(/\+/g, " ")) : "";
  }
  function allowed() {
    if (dnt) return false;
    if (requireConsent && consent !== true) return false;
    return consent !== false;
  }
  function url() {
    return endpoint + (endpoint.indexOf("?") < 0 ? "?" : "&") + "k=" + encodeURIComponent(site);
  }
  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!queue.length) return;
    var batch = queue.splice(0, 500);
    var body = batch.map(function (e) { return JSON.stringify(e); }).join("\n") + "\n";
    var sent = false;
    try {
      sent = nav.sendBeacon && nav.sendBeacon(url(), new Blob([body], { type: "text/plain" }));
    } catch (e) { sent = false; }
    if (!sent && w.fetch) {
      w.fetch(url(), { method: "POST", body: body, keepalive: true, mode: "no-cors", credentials: "omit",
        headers: { "Content-Type": "text/plain" } }).catch(function () {});
    }
    if (queue.length) flush();
  }
  function track(type, props) {
    if (!allowed()) return;
    var e = {
      type: type,
      event_id: uuid(),
      ts: Date.now(),
      visitor_id: visitorId(),
      session_id: sessionId(),
      url: w.location.href,
      referrer: d.referrer || "",
      utm_source: utm("utm_source"),
      utm_medium: utm("utm_medium"),
      utm_campaign: utm("utm_campaign")
    };
    if (consent !== null) e.consent = consent === true;
    props = props || {};
    for (var k in props) if (Object.prototype.hasOwnProperty.call(props, k)) e[k] = props[k];
    if (e.amount !== undefined && e.amount !== null) e.amount = String(e.amount);
    queue.push(e);
    if (type === "order_placed" || type === "payment" || type === "checkout_start") flush();
    else if (!timer) timer = setTimeout(flush, options.flushMs);
  }
  function command(name, a, b) {
    if (name === "track") track(a, b);
    else if (name === "pageview") track(a && a.product ? "product_view" : "page_view", a);
    else if (name === "consent") { consent = !!a; if (!consent) queue.length = 0; }
    else if (name === "config") { for (var k in a) options[k] = a[k]; }
    else if (name === "flush") flush();
  }

  var pending = (w.shopops && w.shopops.q) || [];
  w.shopops = function () { command.apply(null, arguments); };
  w.shopops.flush = flush;
  for (var i = 0; i < pending.length; i++) command.apply(null, pending[i]);
  if (options.autoPageView) track("page_view");
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") flush(); });
  w.addEventListener("pagehide", flush);
})(window, document);
