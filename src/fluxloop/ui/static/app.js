/* FluxLoop viewer: one script, no dependencies. Every page is drawn from its URL, so any URL
   can be pasted; data comes from the read-only JSON API under /api/. */
"use strict";

(function () {
  const main = document.getElementById("main");
  const crumbs = document.getElementById("crumbs");
  const noticeBox = document.getElementById("notices");
  let pollTimer = null;

  // ---------------------------------------------------------------------------- helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }
  function fill(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  }
  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
    return p.toString();
  }
  async function api(path, params) {
    const res = await fetch("/api/" + path + "?" + qs(params || {}), { credentials: "same-origin" });
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new Error((body && body.error) || ("HTTP " + res.status));
    return body;
  }
  function fmtMs(v) { return v === null || v === undefined ? "–" : (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v < 10 ? 2 : 0) + " ms"); }
  function fmtPct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function fmtNum(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 }); }
  function fmtDate(v) { return v ? String(v).replace("T", " ").slice(0, 19) : "–"; }
  function text(v) { return v === null || v === undefined ? "" : (typeof v === "string" ? v : JSON.stringify(v)); }
  function short(v, n) { const t = text(v).replace(/\s+/g, " "); return t.length > n ? t.slice(0, n - 1) + "…" : t; }
  function statusBadge(s) {
    const cls = { complete: "ok", running: "warn", interrupted: "bad", resumable: "warn" }[s] || "plain";
    return h("span", { class: "badge " + cls }, s);
  }
  function runBadge(success, passed) {
    const out = [h("span", { class: "badge " + (success ? "ok" : "bad") }, success ? "success" : "failed")];
    if (passed === true) out.push(" ", h("span", { class: "badge ok" }, "passed"));
    if (passed === false) out.push(" ", h("span", { class: "badge bad" }, "not passed"));
    return out;
  }
  function setCrumbs(items) {
    fill(crumbs, ...items.map(([label, href]) => href ? h("a", { href }, label) : h("span", { "aria-current": "page" }, label)));
  }
  function setNotices(list, isError) {
    fill(noticeBox, ...(list || []).map((n) => h("div", { class: "notice" + (isError ? " error" : "") }, n)));
  }
  function fail(err) {
    setNotices([String(err.message || err)], true);
    fill(main, h("p", { class: "muted" }, "This page could not be shown."));
  }
  function url(page, params) { return "/" + page + "?" + qs(params); }
  function expName(id) { return id ? id.split("/").pop() : "."; }
  function schedule(fn, ms) { clearTimeout(pollTimer); pollTimer = setTimeout(fn, ms); }

  // -------------------------------------------------------------- JSON / text rendering
  function jsonTree(value, depth) {
    depth = depth || 0;
    if (value === null) return h("span", { class: "lit" }, "null");
    if (typeof value === "string") return foldText(value, "str");
    if (typeof value === "number") return h("span", { class: "numv" }, String(value));
    if (typeof value === "boolean") return h("span", { class: "lit" }, String(value));
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) return h("span", {}, isArr ? "[]" : "{}");
    const det = h("details", depth < 2 ? { open: true } : {},
      h("summary", {}, isArr ? "[" + entries.length + " items]" : "{" + entries.length + " keys}"));
    for (const [k, v] of entries) det.append(h("div", { class: "row" }, h("span", { class: "key" }, isArr ? k + ": " : JSON.stringify(k) + ": "), jsonTree(v, depth + 1)));
    return det;
  }
  function foldText(s, cls) {
    if (s.length <= 600) return h("span", { class: cls || "" }, cls === "str" ? JSON.stringify(s) : s);
    return h("details", {}, h("summary", {}, s.slice(0, 200).replace(/\s+/g, " ") + "… (" + s.length.toLocaleString() + " characters)"), h("pre", {}, s));
  }
  function messagesOf(value) {
    const list = Array.isArray(value) ? value : (value && Array.isArray(value.messages) ? value.messages : null);
    if (!list || !list.length) return null;
    if (!list.every((m) => m && typeof m === "object" && typeof m.role === "string")) return null;
    return list;
  }
  function messageText(m) {
    if (typeof m.content === "string") return m.content;
    if (Array.isArray(m.parts)) return m.parts.map((p) => p.content || p.text || (p.type === "tool_call" ? "tool call " + p.name + " " + JSON.stringify(p.arguments) : JSON.stringify(p))).join("\n");
    if (Array.isArray(m.content)) return m.content.map((p) => p.text || JSON.stringify(p)).join("\n");
    return text(m.content);
  }
  function chat(list) {
    return h("div", { class: "chat" }, list.map((m) => h("div", { class: "msg " + m.role }, h("span", { class: "role" }, m.role), messageText(m))));
  }
  function valueView(value) {
    if (value === null || value === undefined) return h("span", { class: "muted" }, "none");
    const msgs = messagesOf(value);
    if (msgs) return chat(msgs);
    if (typeof value === "string") {
      const t = value.trim();
      if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
        try { return h("div", { class: "json" }, jsonTree(JSON.parse(t))); } catch (e) { /* plain text */ }
      }
      return value.length > 600 ? foldText(value) : h("pre", {}, value);
    }
    return h("div", { class: "json" }, jsonTree(value));
  }

  // ---------------------------------------------------------------------- list page
  let listSort = { key: "mtime", desc: true };
  async function listPage() {
    setCrumbs([["Experiments", null]]);
    document.title = "Experiments · FluxLoop";
    const data = await api("experiments");
    const rows = data.experiments.slice();
    const cols = [
      ["", null], ["name", "name"], ["date", "date"], ["status", "status"], ["runs", "runs", "num"],
      ["success", "success_rate", "num"], ["eval pass", "pass_rate", "num"], ["p50", "p50_ms", "num"],
      ["p95", "p95_ms", "num"], ["tokens", "tokens", "num"],
    ];
    rows.sort((a, b) => {
      const x = a[listSort.key], y = b[listSort.key];
      const c = (x === null) - (y === null) || (x < y ? -1 : x > y ? 1 : 0);
      return listSort.desc ? -c : c;
    });
    const picked = new Set();
    const compareBtn = h("button", { class: "btn primary", disabled: true, id: "compare-selected", onclick: () => {
      const [a, b] = [...picked];
      location.href = url("compare", { a, b });
    } }, "Compare selected");
    const head = h("tr", {}, cols.map(([label, key, cls]) => {
      if (!key) return h("th", {}, h("span", { class: "sr-only" }, "select"));
      const active = listSort.key === key;
      return h("th", { class: cls || "", "aria-sort": active ? (listSort.desc ? "descending" : "ascending") : "none" },
        h("button", { onclick: () => { listSort = { key, desc: active ? !listSort.desc : key !== "name" }; listPage().catch(fail); } }, label + (active ? (listSort.desc ? " ▾" : " ▴") : "")));
    }));
    const body = h("tbody", {}, rows.map((r) => {
      const box = h("input", { type: "checkbox", "aria-label": "select " + r.dir, onchange: (ev) => {
        if (ev.target.checked) picked.add(r.id); else picked.delete(r.id);
        compareBtn.disabled = picked.size !== 2;
      } });
      return h("tr", { "data-id": r.id },
        h("td", {}, box),
        h("td", { class: "text" }, h("a", { href: url("experiment", { x: r.id }) }, r.name), h("div", { class: "muted" }, r.dir),
          r.notices.length ? h("div", { class: "badge warn", title: r.notices.join("\n") }, r.notices.length + " notice(s)") : null),
        h("td", {}, fmtDate(r.date)), h("td", {}, statusBadge(r.status)),
        h("td", { class: "num" }, r.planned && r.planned !== r.runs ? r.runs + " / " + r.planned : r.runs),
        h("td", { class: "num" }, fmtPct(r.success_rate)), h("td", { class: "num" }, r.evaluated ? fmtPct(r.pass_rate) : "–"),
        h("td", { class: "num" }, fmtMs(r.p50_ms)), h("td", { class: "num" }, fmtMs(r.p95_ms)), h("td", { class: "num" }, fmtNum(r.tokens)));
    }));
    setNotices(rows.flatMap((r) => r.notices.map((n) => r.dir + ": " + n)));
    fill(main, 
      h("h1", {}, "Experiments"),
      h("p", { class: "muted" }, "Serving " + data.root + " — " + rows.length + " experiment(s)."),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "experiments" }, h("thead", {}, head), body)) :
        h("p", {}, "No experiment directories found here (they hold trace_summary.jsonl)."),
      h("div", { class: "pager" }, compareBtn, h("span", { class: "muted" }, "Select two experiments: the first is the baseline (A)."))
    );
    schedule(() => { if (location.pathname === "/") listPage().catch(() => {}); }, rows.some((r) => r.status === "running") ? 1500 : 5000);
  }

  // ---------------------------------------------------------------- experiment page
  const FILTER_KEYS = ["status", "persona", "q", "verdict", "error_type", "dmin", "dmax", "tmin", "tmax", "sort", "order", "offset"];
  function barChart(title, items) {
    // items: [label, value 0..1]
    const rowH = 22, width = 420, labelW = 140;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (items.length * rowH + 6));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", title);
    items.forEach(([label, value], i) => {
      const y = i * rowH + 3;
      const t = document.createElementNS(svg.namespaceURI, "text");
      t.setAttribute("x", 0); t.setAttribute("y", y + 14); t.setAttribute("font-size", 12); t.setAttribute("fill", "#1b1f24");
      t.textContent = short(label, 20);
      const bg = document.createElementNS(svg.namespaceURI, "rect");
      bg.setAttribute("x", labelW); bg.setAttribute("y", y + 2); bg.setAttribute("width", width - labelW - 50); bg.setAttribute("height", 14); bg.setAttribute("fill", "#eef1f4");
      const bar = document.createElementNS(svg.namespaceURI, "rect");
      bar.setAttribute("x", labelW); bar.setAttribute("y", y + 2); bar.setAttribute("width", Math.max(0, (width - labelW - 50) * (value || 0))); bar.setAttribute("height", 14);
      bar.setAttribute("fill", value >= 0.8 ? "#1f9d55" : value >= 0.5 ? "#d97706" : "#c53030");
      const v = document.createElementNS(svg.namespaceURI, "text");
      v.setAttribute("x", width - 44); v.setAttribute("y", y + 14); v.setAttribute("font-size", 12); v.setAttribute("fill", "#1b1f24");
      v.textContent = fmtPct(value);
      svg.append(t, bg, bar, v);
    });
    return h("div", { class: "chart" }, h("h3", {}, title), svg);
  }

  async function experimentPage(params) {
    const x = params.get("x");
    const info = await api("experiment", { x });
    const e = info.experiment;
    document.title = e.name + " · FluxLoop";
    setCrumbs([["Experiments", "/"], [e.dir, null]]);
    setNotices(info.notices);
    const ev = info.evaluation;
    const cards = h("div", { class: "cards" },
      card("status", statusBadge(e.status)), card("runs", e.planned && e.planned !== e.runs ? e.runs + " / " + e.planned : e.runs),
      card("success rate", fmtPct(e.success_rate)), card("failed", e.failed),
      ev ? card("eval pass rate", fmtPct(e.pass_rate)) : null,
      ev && ev.overall ? card("mean score", ev.overall.mean_score === undefined ? "–" : fmtNum(ev.overall.mean_score)) : null,
      card("latency p50", fmtMs(e.p50_ms)), card("latency p95", fmtMs(e.p95_ms)), card("tokens", fmtNum(e.tokens)));
    const charts = [];
    if (ev && Array.isArray(ev.evaluators) && ev.evaluators.length) charts.push(barChart("Pass rate by evaluator", ev.evaluators.map((x) => [x.name, x.pass_rate])));
    if (ev && ev.per_persona && Object.keys(ev.per_persona).length) charts.push(barChart("Pass rate by persona", Object.entries(ev.per_persona).map(([k, v]) => [k, v.pass_rate])));
    else if (info.summary && info.summary.per_persona) charts.push(barChart("Success rate by persona", Object.entries(info.summary.per_persona).map(([k, v]) => [k, v.success_rate])));
    const f = info.facets;
    const opt = (value, label, current) => h("option", { value, selected: current === value }, label);
    const sel = (name, label, options) => h("label", {}, label, h("select", { name }, options.map(([v, l]) => opt(v, l, params.get(name) || ""))));
    const inp = (name, label, cls, type) => h("label", {}, label, h("input", { name, class: cls || "", type: type || "text", value: params.get(name) || "", inputmode: type === "number" ? "decimal" : null }));
    const form = h("form", { class: "filters", id: "filters", onsubmit: (ev2) => { ev2.preventDefault(); applyFilters(x, form); } },
      sel("status", "status", [["", "any"], ["success", "success"], ["failed", "failed"]]),
      sel("persona", "persona", [["", "any"], ...f.personas.map((p) => [p, p])]),
      inp("q", "input contains"),
      f.evaluated ? sel("verdict", "verdict", [["", "any"], ["passed", "passed"], ["failed", "not passed"], ["none", "not evaluated"]]) : null,
      sel("error_type", "error type", [["", "any"], ...f.error_types.map((t) => [t.type, t.type + " (" + t.count + ")"])]),
      inp("dmin", "ms ≥", "short", "number"), inp("dmax", "ms ≤", "short", "number"),
      inp("tmin", "tokens ≥", "short", "number"), inp("tmax", "tokens ≤", "short", "number"),
      h("button", { class: "btn primary", type: "submit" }, "Apply"),
      h("button", { class: "btn", type: "button", onclick: () => { location.href = url("experiment", { x }); } }, "Clear"));
    form.querySelectorAll("select").forEach((s) => s.addEventListener("change", () => applyFilters(x, form)));
    const tableBox = h("div", { id: "runs" });
    fill(main, 
      h("h1", {}, e.name, " ", h("span", { class: "muted" }, e.dir)),
      cards,
      charts.length ? h("div", { class: "charts" }, charts) : null,
      info.report ? h("p", {}, h("a", { href: "/report?" + qs({ x }) }, "Full evaluation report")) : null,
      h("h2", {}, "Runs"), form, tableBox);
    await drawRuns(x, params, tableBox, e.status === "running");
    // the run table is still being built: this page came from the file; draw it again when ready
    if (info.loading) schedule(() => { if (location.pathname === "/experiment") route(); }, 400);
  }
  function card(k, v) { return h("div", { class: "card" }, h("div", { class: "v" }, v), h("div", { class: "k" }, k)); }
  function applyFilters(x, form) {
    const p = new URLSearchParams(location.search);
    for (const el of form.elements) if (el.name) { if (el.value) p.set(el.name, el.value); else p.delete(el.name); }
    p.delete("offset");
    history.pushState(null, "", "/experiment?" + p.toString());
    route();
  }
  async function drawRuns(x, params, box, live) {
    const query = { x };
    for (const k of FILTER_KEYS) if (params.get(k)) query[k] = params.get(k);
    const page = await api("runs", query);
    const sortKey = params.get("sort") || "n";
    const desc = params.get("order") === "desc";
    const cols = [["#", "n", "num"], ["iter", "iteration", "num"], ["persona", "persona"], ["input", "input"], ["output / error", null],
      ["status", "status"], ["score", "score", "num"], ["duration", "duration", "num"], ["tokens", "tokens", "num"]];
    const head = h("tr", {}, cols.map(([label, key, cls]) => {
      if (!key) return h("th", {}, label);
      const active = sortKey === key;
      return h("th", { class: cls || "", "aria-sort": active ? (desc ? "descending" : "ascending") : "none" }, h("button", { onclick: () => {
        const p = new URLSearchParams(location.search);
        p.set("sort", key); p.set("order", active && !desc ? "desc" : "asc"); p.delete("offset");
        history.pushState(null, "", "/experiment?" + p.toString()); route();
      } }, label + (active ? (desc ? " ▾" : " ▴") : "")));
    }));
    const rows = page.rows.map((r) => {
      const href = r.trace_id ? url("run", { x, trace: r.trace_id }) : null;
      const tr = h("tr", { class: href ? "selectable" : "", tabindex: href ? "0" : null, "data-trace": r.trace_id || "" },
        h("td", { class: "num" }, r.n), h("td", { class: "num" }, r.iteration), h("td", {}, r.persona || "–"),
        h("td", { class: "text" }, href ? h("a", { href, tabindex: "-1" }, short(r.input, 120)) : short(r.input, 120)),
        h("td", { class: "text" }, r.success ? short(r.output_text, 120) : h("span", { class: "badge bad" }, r.error_type || "error"), r.success ? null : " " + short(r.error_message, 100)),
        h("td", {}, runBadge(r.success, r.passed)), h("td", { class: "num" }, r.score === null ? "–" : fmtNum(r.score)),
        h("td", { class: "num" }, fmtMs(r.duration_ms)), h("td", { class: "num" }, fmtNum(r.tokens)));
      if (href) {
        tr.addEventListener("click", (ev) => { if (!ev.target.closest("a")) location.href = href; });
        tr.addEventListener("keydown", (ev) => rowKeys(ev, tr, href));
      }
      return tr;
    });
    const offset = page.offset, limit = page.limit;
    const go = (o) => { const p = new URLSearchParams(location.search); if (o) p.set("offset", o); else p.delete("offset"); history.pushState(null, "", "/experiment?" + p.toString()); route(); };
    fill(box, 
      h("div", { class: "pager" },
        h("span", { id: "run-count" }, page.matched ? "Runs " + (offset + 1).toLocaleString() + "–" + Math.min(offset + limit, page.matched).toLocaleString() + " of " + page.matched.toLocaleString() + (page.matched !== page.total ? " matching (" + page.total.toLocaleString() + " in all)" : "") : "No run matches."),
        h("button", { class: "btn", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Previous"),
        h("button", { class: "btn", disabled: offset + limit >= page.matched, onclick: () => go(offset + limit) }, "Next ›")),
      h("div", { class: "table-wrap" }, h("table", { id: "run-table", "aria-label": "Runs (arrow keys move, Enter opens)" }, h("thead", {}, head), h("tbody", {}, rows))));
    if (page.loading) box.prepend(h("p", { class: "muted", id: "loading" }, "Indexing all runs… filters and sorting are available in a moment."));
    if (live) schedule(() => { if (location.pathname === "/experiment") drawRuns(x, new URLSearchParams(location.search), box, true).catch(() => {}); }, 2000);
  }
  function rowKeys(ev, tr, href) {
    const move = (el) => { if (el) { ev.preventDefault(); el.focus(); } };
    if (ev.key === "ArrowDown") move(tr.nextElementSibling);
    else if (ev.key === "ArrowUp") move(tr.previousElementSibling);
    else if (ev.key === "Home") move(tr.parentElement.firstElementChild);
    else if (ev.key === "End") move(tr.parentElement.lastElementChild);
    else if (ev.key === "Enter" && href) { ev.preventDefault(); location.href = href; }
  }

  // ----------------------------------------------------------------------- run page
  function spanTree(spans, opts) {
    // opts: {selected, onSelect(span), highlight:Set, id}
    const total = Math.max(1e-6, ...spans.map((s) => (s.offset_ms || 0) + (s.duration_ms || 0)));
    const items = spans.map((s) => {
      const left = ((s.offset_ms || 0) / total) * 100;
      const width = Math.max(0.4, ((s.duration_ms || 0) / total) * 100);
      const li = h("li", { role: "treeitem", tabindex: "-1", "aria-level": s.depth + 1, "aria-selected": "false", "data-span": s.id || "", "data-type": s.type || "span",
        class: opts.highlight && opts.highlight.has(s.id) ? "diff" : "" },
        h("div", { class: "label", style: "padding-left:" + (s.depth * 14) + "px" }, h("span", { class: "type type-" + (s.type || "span") }, s.type || "span"), s.name || "?",
          s.error ? h("span", { class: "badge bad", style: "margin-left:6px" }, "error") : null),
        h("div", { class: "bar-track", title: fmtMs(s.duration_ms) + " at +" + fmtMs(s.offset_ms) },
          h("div", { class: "bar " + (s.error ? "error" : (s.type || "")), style: "left:" + Math.min(left, 99.6) + "%;width:" + Math.min(width, 100 - Math.min(left, 99.6)) + "%" })));
      li.addEventListener("click", () => select(li, s));
      return li;
    });
    const ul = h("ul", { class: "tree", role: "tree", id: opts.id || null, "aria-label": "Spans (arrow keys move)" }, items);
    function select(li, s, focus) {
      for (const el of items) { el.setAttribute("aria-selected", "false"); el.tabIndex = -1; }
      li.setAttribute("aria-selected", "true"); li.tabIndex = 0;
      if (focus) li.focus();
      opts.onSelect(s);
    }
    ul.addEventListener("keydown", (ev) => {
      const i = items.indexOf(document.activeElement);
      if (i < 0) return;
      const s = spans[i];
      let j = null;
      if (ev.key === "ArrowDown") j = i + 1;
      else if (ev.key === "ArrowUp") j = i - 1;
      else if (ev.key === "Home") j = 0;
      else if (ev.key === "End") j = items.length - 1;
      else if (ev.key === "ArrowLeft") { for (let k = i - 1; k >= 0; k--) if (spans[k].depth < s.depth) { j = k; break; } }
      else if (ev.key === "ArrowRight") { if (spans[i + 1] && spans[i + 1].depth > s.depth) j = i + 1; }
      else if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(items[i], s, true); return; }
      if (j !== null && j >= 0 && j < items.length) { ev.preventDefault(); select(items[j], spans[j], true); }
    });
    let start = spans.findIndex((s) => s.id === opts.selected);
    if (start < 0) start = 0;
    if (items.length) { items[start].tabIndex = 0; if (opts.selected !== undefined) select(items[start], spans[start]); }
    return ul;
  }
  function spanDetail(s, allSpans) {
    if (!s) return h("p", { class: "muted" }, "No span selected.");
    const events = (allSpans || []).filter((x) => x.type === "event" && x.parent_observation_id === s.id);
    const attrs = Object.entries(s.attributes || {});
    const tokens = [s.prompt_tokens, s.completion_tokens, s.total_tokens];
    return h("div", { id: "span-detail" },
      h("h2", {}, h("span", { class: "type type-" + (s.type || "span") }, s.type || "span"), " ", s.name || "?"),
      h("dl", { class: "kv" },
        h("dt", {}, "start"), h("dd", {}, fmtDate(s.start_time) + " (+" + fmtMs(s.offset_ms) + ")"),
        h("dt", {}, "duration"), h("dd", {}, fmtMs(s.duration_ms)),
        s.model ? [h("dt", {}, "model"), h("dd", {}, s.model)] : null,
        tokens.some((t) => t !== null && t !== undefined) ? [h("dt", {}, "tokens"), h("dd", {}, "prompt " + fmtNum(s.prompt_tokens) + " · completion " + fmtNum(s.completion_tokens) + " · total " + fmtNum(s.total_tokens))] : null,
        h("dt", {}, "span id"), h("dd", {}, s.id || "–")),
      s.error ? h("div", { class: "error-box" }, h("strong", {}, "Error: "), typeof s.error === "string" ? s.error : valueView(s.error),
        s.metadata && typeof s.metadata.traceback === "string" ? h("details", {}, h("summary", {}, "traceback"), h("pre", {}, s.metadata.traceback)) : null) : null,
      h("h3", {}, "Input"), h("div", { id: "span-input" }, valueView(s.input)),
      h("h3", {}, "Output"), h("div", { id: "span-output" }, valueView(s.output)),
      events.length ? [h("h3", {}, "Events"), h("ul", {}, events.map((e) => h("li", {}, e.name, " ", h("span", { class: "muted" }, "+" + fmtMs(e.offset_ms)), e.metadata && Object.keys(e.metadata).length ? valueView(e.metadata) : null)))] : null,
      s.metadata && Object.keys(s.metadata).length ? [h("h3", {}, "Metadata"), valueView(s.metadata)] : null,
      attrs.length ? [h("h3", {}, "Attributes"), h("dl", { class: "kv" }, attrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, text(v))]))] : null,
      s.resource && Object.keys(s.resource).length ? [h("h3", {}, "Resource" + (s.scope && s.scope.name ? " · scope " + s.scope.name + (s.scope.version ? " " + s.scope.version : "") : "")),
        h("dl", { class: "kv", id: "span-resource" }, Object.entries(s.resource).map(([k, v]) => [h("dt", {}, k), h("dd", {}, text(v))]))] : null);
  }
  function evaluationView(ev) {
    if (!ev) return h("p", { class: "muted" }, "Not evaluated (run fluxloop evaluate experiment on this directory).");
    return h("div", { id: "evaluation" },
      h("p", {}, h("span", { class: "badge " + (ev.passed ? "ok" : "bad") }, ev.passed ? "passed" : "not passed"), " score " + fmtNum(ev.score)),
      (ev.evaluators || []).map((e) => h("div", { class: "pane", style: "margin:6px 0" },
        h("strong", {}, e.name), " ", h("span", { class: "muted" }, e.type || ""), " ", h("span", { class: "badge " + (e.passed ? "ok" : e.status === "skipped" ? "plain" : "bad") }, e.status || (e.passed ? "pass" : "fail")), " score " + fmtNum(e.score),
        e.reason ? h("div", {}, e.reason) : null,
        Array.isArray(e.checks) && e.checks.length ? h("ul", {}, e.checks.map((c) => h("li", {}, (c.passed ? "✓ " : "✗ ") + (c.check || c.name || "check") + (c.detail ? " — " + c.detail : "")))) : null,
        Array.isArray(e.criteria) && e.criteria.length ? h("ul", {}, e.criteria.map((c) => h("li", {}, (c.name || c.criterion || "criterion") + ": " + fmtNum(c.score) + (c.reason ? " — " + c.reason : "")))) : null)));
  }
  function conversationView(conv, spans, onTurn) {
    if (!Array.isArray(conv) || conv.length < 2) return null;
    return [h("h2", {}, "Conversation"), h("div", { class: "chat", id: "conversation" }, conv.map((m) => {
      const turn = typeof m.turn_index === "number" ? m.turn_index : null;
      const span = turn === null ? null : spans.find((s) => s.attributes && s.attributes["fluxloop.conversation.turn"] === turn - 1);
      return h("div", { class: "msg " + (m.role || "user") }, h("span", { class: "role" }, (m.role || "?") + (turn !== null ? " · turn " + turn : ""),
        span ? [" ", h("button", { class: "btn turn", onclick: () => onTurn(span.id) }, "spans")] : null), text(m.content));
    }))];
  }

  async function runPage(params) {
    const x = params.get("x"), trace = params.get("trace");
    const data = await api("run", { x, trace });
    const run = data.run || {};
    document.title = "Run " + short(run.input, 40) + " · FluxLoop";
    setCrumbs([["Experiments", "/"], [expName(x), url("experiment", { x })], ["run " + (trace || "").slice(0, 8), null]]);
    setNotices(data.notices);
    const detailBox = h("div", { class: "pane", id: "detail-pane" });
    const spans = data.spans;
    const selectSpan = (s) => {
      fill(detailBox, spanDetail(s, spans));
      const p = new URLSearchParams(location.search);
      if (s.id && p.get("span") !== s.id) { p.set("span", s.id); history.replaceState(null, "", "/run?" + p.toString()); }
    };
    const tree = spanTree(spans, { selected: params.get("span") || (spans[0] && spans[0].id), onSelect: selectSpan, id: "span-tree" });
    const sib = data.siblings || [];
    const at = sib.findIndex((s) => s.trace_id === trace);
    const err = run.error && typeof run.error === "object" ? run.error : (run.error ? { message: run.error } : null);
    fill(main, 
      h("h1", {}, short(run.input, 160) || trace),
      h("div", { class: "cards" }, card("status", runBadge(run.success !== false, data.evaluation ? data.evaluation.passed : null)),
        card("persona", run.persona || "–"), card("iteration", run.iteration ?? "–"), card("duration", fmtMs(run.duration_ms)),
        card("tokens", fmtNum(run.token_usage ? run.token_usage.total_tokens : null)), card("spans", spans.length)),
      sib.length > 1 ? h("nav", { class: "nav-runs", "aria-label": "Same input, other iterations" }, h("span", { class: "muted" }, "Same input across iterations:"),
        at > 0 ? h("a", { class: "btn", href: url("run", { x, trace: sib[at - 1].trace_id }), id: "prev-run" }, "‹ previous") : null,
        sib.map((s) => s.trace_id === trace ? h("strong", {}, "#" + s.iteration) : h("a", { href: url("run", { x, trace: s.trace_id }), class: "badge " + (s.success ? "ok" : "bad") }, "#" + s.iteration)),
        at >= 0 && at < sib.length - 1 ? h("a", { class: "btn", href: url("run", { x, trace: sib[at + 1].trace_id }), id: "next-run" }, "next ›") : null) : null,
      err ? h("div", { class: "error-box", id: "run-error" }, h("strong", {}, (err.type || "error") + ": "), err.message || "", err.traceback ? h("details", {}, h("summary", {}, "traceback"), h("pre", {}, err.traceback)) : null) : null,
      h("div", { class: "split" },
        h("div", { class: "pane" }, h("h2", {}, "Spans"), spans.length ? tree : h("p", { class: "muted" }, "No spans recorded for this run.")),
        detailBox),
      h("h2", {}, "Output"), valueView(run.output),
      conversationView(run.conversation, spans, (id) => {
        const li = tree.querySelector('[data-span="' + CSS.escape(id) + '"]');
        if (li) { li.click(); li.focus(); li.scrollIntoView({ block: "nearest" }); }
      }),
      h("h2", {}, "Evaluation"), evaluationView(data.evaluation));
    if (!spans.length) fill(detailBox, h("p", { class: "muted" }, "No span to show."));
  }

  // ------------------------------------------------------------------- compare page
  async function comparePage(params) {
    const a = params.get("a"), b = params.get("b");
    setCrumbs([["Experiments", "/"], ["compare", null]]);
    document.title = "Compare · FluxLoop";
    const list = await api("experiments");
    const picker = (name, current) => h("label", {}, name === "a" ? "baseline A " : "candidate B ", h("select", { name }, h("option", { value: "" }, "choose…"),
      list.experiments.map((e) => h("option", { value: e.id, selected: e.id === current }, e.dir + " (" + fmtDate(e.date) + ")"))));
    const form = h("form", { class: "picker", onsubmit: (ev) => { ev.preventDefault(); location.href = url("compare", { a: form.elements.a.value, b: form.elements.b.value }); } },
      picker("a", a), picker("b", b), h("button", { class: "btn primary", type: "submit" }, "Compare"));
    if (!a || !b) { setNotices([]); fill(main, h("h1", {}, "Compare two experiments"), form); return; }
    const r = await api("compare", { a, b });
    setNotices([]);
    const metrics = h("table", { id: "metrics" }, h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", { class: "num" }, "A"), h("th", { class: "num" }, "B"), h("th", { class: "num" }, "delta"))),
      h("tbody", {}, r.metrics.map((m) => {
        const f = m.unit === "rate" ? fmtPct : m.unit === "ms" ? fmtMs : fmtNum;
        const worse = m.delta !== null && Math.abs(m.delta) > 1e-12 && ((m.delta > 0) !== (m.better === "higher"));
        const better = m.delta !== null && Math.abs(m.delta) > 1e-12 && !worse;
        const d = m.delta === null ? "–" : (m.unit === "rate" ? (m.delta * 100).toFixed(1) + " pp" : fmtNum(m.delta)) + (m.delta_pct !== null && m.unit !== "rate" ? " (" + m.delta_pct.toFixed(1) + "%)" : "");
        return h("tr", {}, h("td", {}, m.metric), h("td", { class: "num" }, f(m.a)), h("td", { class: "num" }, f(m.b)), h("td", { class: "num delta " + (worse ? "worse" : better ? "better" : "") }, (m.delta > 0 ? "+" : "") + d));
      })));
    const pairBox = h("div", { id: "pair" });
    const entries = (list, kind) => list.map((it, i) => {
      const li = h("tr", { class: "selectable", tabindex: "0", "data-kind": kind },
        h("td", {}, h("span", { class: "badge " + (kind === "regression" ? "bad" : "ok") }, kind)), h("td", { class: "text" }, short(it.input, 100)), h("td", {}, it.persona || "–"), h("td", { class: "num" }, it.iteration),
        h("td", { class: "text" }, short(it.error_b || it.output_b, 100)));
      const open = () => {
        const p = new URLSearchParams(location.search); p.set("ta", it.trace_a || ""); p.set("tb", it.trace_b || ""); p.delete("span");
        history.replaceState(null, "", "/compare?" + p.toString());
        drawPair(a, b, it.trace_a, it.trace_b, pairBox).catch(fail);
      };
      li.addEventListener("click", open);
      li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); else rowKeys(ev, li, null); });
      return li;
    });
    const changed = [...entries(r.regressed_runs, "regression"), ...entries(r.improved_runs, "improvement")];
    fill(main, 
      h("h1", {}, "Compare ", h("span", { class: "muted" }, expName(a) + " → " + expName(b))), form,
      h("div", { class: "cards" }, card("aligned runs", r.matched), card("regressions", r.regressions), card("improvements", r.improvements),
        card("only in A", r.only_in_a), card("only in B", r.only_in_b), card("outcome", r.basis === "evaluation" ? "evaluation verdict" : "run success")),
      h("h2", {}, "Metrics (aligned runs)"), h("div", { class: "table-wrap" }, metrics),
      h("h2", {}, "Changed runs (regressions first)"),
      changed.length ? h("div", { class: "table-wrap" }, h("table", { id: "changed" }, h("thead", {}, h("tr", {}, h("th", {}, "change"), h("th", {}, "input"), h("th", {}, "persona"), h("th", { class: "num" }, "iter"), h("th", {}, "B error / output"))), h("tbody", {}, changed))) : h("p", {}, "No run changed outcome."),
      (r.regressions > r.regressed_runs.length) ? h("p", { class: "muted" }, "The first " + r.regressed_runs.length + " of " + r.regressions + " regressions are listed.") : null,
      pairBox);
    if (params.get("ta") && params.get("tb")) await drawPair(a, b, params.get("ta"), params.get("tb"), pairBox);
  }
  async function drawPair(a, b, ta, tb, box) {
    const data = await api("pair", { a, b, ta, tb });
    const hiA = new Set(data.diff.flatMap((d) => d.a)), hiB = new Set(data.diff.flatMap((d) => d.b));
    const side = (label, x, trace, d, hi) => {
      const detail = h("div", {});
      const run = d.run || {};
      const err = run.error && typeof run.error === "object" ? run.error : null;
      return h("div", { class: "pane side-" + label },
        h("h3", {}, label === "a" ? "A (baseline)" : "B (candidate)", " ", h("a", { href: url("run", { x, trace }) }, "open run")),
        runBadge(run.success !== false, d.evaluation ? d.evaluation.passed : null),
        err ? h("div", { class: "error-box" }, (err.type || "error") + ": " + (err.message || "")) : null,
        h("h3", {}, "Output"), valueView(run.output),
        h("h3", {}, "Spans"), spanTree(d.spans, { id: "tree-" + label, highlight: hi, onSelect: (s) => { detail.className = "pane"; fill(detail, spanDetail(s, d.spans)); } }),
        detail);
    };
    fill(box, 
      h("h2", {}, "Pair: " + short(data.b.run ? data.b.run.input : "", 100)),
      data.diff.length ? h("ul", { class: "diffs", id: "diffs" }, data.diff.map((d) => h("li", {}, d.text))) : h("p", { class: "muted" }, "The span trees have the same tools and arguments."),
      h("div", { class: "side-by-side" }, side("a", new URLSearchParams(location.search).get("a"), ta, data.a, hiA), side("b", new URLSearchParams(location.search).get("b"), tb, data.b, hiB)));
    box.scrollIntoView({ block: "start" });
  }

  // ------------------------------------------------------------------------- router
  async function route() {
    clearTimeout(pollTimer);
    const params = new URLSearchParams(location.search);
    const pages = { "/": listPage, "/experiment": experimentPage, "/run": runPage, "/compare": comparePage };
    const page = pages[location.pathname];
    try {
      if (!page) throw new Error("unknown page " + location.pathname);
      await page(params);
      document.body.dataset.ready = location.pathname;
    } catch (err) {
      fail(err);
      document.body.dataset.ready = "error";
    }
  }
  window.addEventListener("popstate", route);
  route();
})();
