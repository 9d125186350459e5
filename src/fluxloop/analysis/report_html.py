"""The evaluation's self-contained HTML report.

One file, no network: inline CSS, inline JavaScript and the data as an inline JSON block. The
numbers (verdict, gates, tables) are rendered on the server side, so they read without
JavaScript; the charts — pass rate by evaluator and by persona, latency and token histograms
(stacked passed / failed), and a timeline (Gantt) per sampled trace — are SVG drawn by the
page's script. Data is only ever inserted with ``textContent`` / SVG attributes, never as HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from .report import fmt_gate, num, pct

if TYPE_CHECKING:
    from .evaluate import Accumulator

__all__ = ["render_html_report"]

_CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--ok:#12a150;
--bad:#d92d20;--warn:#f79009;--none:#98a2b3;--accent:#3b5bdb}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Liberation Sans",Arial,sans-serif;background:var(--bg);color:var(--ink)}
header{background:#101828;color:#fff;padding:20px 32px}header h1{margin:0;font-size:20px;
font-weight:600}header .sub{color:#d0d5dd;font-size:13px;margin-top:4px}
main{padding:20px 32px;max-width:1400px;margin:0 auto}
.verdict{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:700;
font-size:12px;letter-spacing:.04em;margin-left:10px;vertical-align:middle}
.pass{background:#d1fadf;color:#05603a}.fail{background:#fee4e2;color:#912018}
.skip{background:#eaecf0;color:#475467}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;
margin-bottom:16px}.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:12px 14px}.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.04em}.card .v{font-size:22px;font-weight:650;margin-top:2px;white-space:nowrap}
.card .s{color:var(--muted);font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px;
margin-bottom:16px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
margin-bottom:16px}section h2{font-size:15px;margin:0 0 10px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;
padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;background:#fafbfc;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.gate-pass{color:var(--ok);font-weight:600}.gate-fail{color:var(--bad);font-weight:600}
.chart svg{width:100%;height:auto;display:block}.muted{color:var(--muted)}
.legend span{display:inline-block;margin-right:12px;font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;
vertical-align:-1px}
details.tl{border-top:1px solid var(--line);padding:6px 0}details.tl summary{cursor:pointer}
input.filter{padding:6px 10px;border:1px solid var(--line);border-radius:6px;width:280px;
margin-bottom:8px}.scroll{max-height:520px;overflow:auto}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
"""

_JS = r"""
(function(){
"use strict";
var D = JSON.parse(document.getElementById("fluxloop-data").textContent);
var NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, text){var e=document.createElementNS(NS,tag);
  for(var k in attrs){e.setAttribute(k,attrs[k]);} if(text!=null){e.textContent=String(text);}
  return e;}
function svg(w,h,cls){return el("svg",{viewBox:"0 0 "+w+" "+h,"class":"fl-chart "+(cls||""),
  role:"img",preserveAspectRatio:"xMinYMin meet"});}
function color(v){return v==null?"#98a2b3":v>=0.9?"#12a150":v>=0.6?"#f79009":"#d92d20";}
function fmtPct(v){return v==null?"n/a":(v*100).toFixed(1)+"%";}
function fmtNum(v,d){return v==null?"n/a":Number(v).toLocaleString(undefined,
  {maximumFractionDigits:d==null?1:d});}

function bars(id, items, title){
  var host=document.getElementById(id); if(!host){return;}
  var rowH=26, w=560, left=170, h=Math.max(40, items.length*rowH+28);
  var s=svg(w,h,"fl-bars"); s.appendChild(el("title",{},title));
  for(var x=0;x<=4;x++){var gx=left+(w-left-60)*x/4;
    s.appendChild(el("line",{x1:gx,x2:gx,y1:4,y2:h-20,stroke:"#eaecf0"}));
    s.appendChild(el("text",{x:gx,y:h-6,"font-size":10,fill:"#667085","text-anchor":"middle"},
      (x*25)+"%"));}
  items.forEach(function(it,i){
    var y=6+i*rowH, bw=(w-left-60)*(it.value==null?0:it.value);
    var label=it.label.length>26?it.label.slice(0,25)+"\u2026":it.label;
    s.appendChild(el("text",{x:left-8,y:y+14,"font-size":12,"text-anchor":"end",fill:"#1d2330"},
      label));
    s.appendChild(el("rect",{x:left,y:y+2,width:w-left-60,height:16,fill:"#f2f4f7",rx:3}));
    var bar=el("rect",{x:left,y:y+2,width:Math.max(0,bw),height:16,fill:color(it.value),rx:3,
      "class":"fl-bar","data-value":it.value==null?"":it.value});
    bar.appendChild(el("title",{},it.label+": "+fmtPct(it.value)+(it.sub?" ("+it.sub+")":"")));
    s.appendChild(bar);
    s.appendChild(el("text",{x:left+(w-left-60)+6,y:y+14,"font-size":12,fill:"#344054"},
      fmtPct(it.value)));
  });
  host.appendChild(s);
}

function histogram(id, key, unit, markers){
  var host=document.getElementById(id); if(!host){return;}
  var pts=D.points.filter(function(p){return p[key]!=null;});
  if(!pts.length){var p=document.createElement("p");p.className="muted";
    p.textContent="No "+(key===0?"latency":"token")+" data recorded.";host.appendChild(p);return;}
  var vals=pts.map(function(p){return p[key];});
  var lo=Math.min.apply(null,vals), hi=Math.max.apply(null,vals);
  if(hi===lo){hi=lo+1;}
  var nb=Math.min(24, Math.max(6, Math.ceil(Math.sqrt(pts.length))));
  var bins=[]; for(var i=0;i<nb;i++){bins.push([0,0,0]);}
  pts.forEach(function(p){var b=Math.min(nb-1,Math.floor((p[key]-lo)/(hi-lo)*nb));
    bins[b][p[2]===true?0:p[2]===false?1:2]++;});
  var maxc=Math.max.apply(null,bins.map(function(b){return b[0]+b[1]+b[2];}));
  var w=560,h=220,l=40,r=12,t=10,bt=36, pw=w-l-r, ph=h-t-bt, bw=pw/nb;
  var s=svg(w,h,"fl-hist");
  s.appendChild(el("title",{},(key===0?"Latency":"Tokens")+" distribution"));
  for(var g=0;g<=4;g++){var gy=t+ph-ph*g/4;
    s.appendChild(el("line",{x1:l,x2:w-r,y1:gy,y2:gy,stroke:"#eaecf0"}));
    s.appendChild(el("text",{x:l-6,y:gy+4,"font-size":10,fill:"#667085","text-anchor":"end"},
      Math.round(maxc*g/4)));}
  var cols=["#12a150","#d92d20","#98a2b3"];
  bins.forEach(function(b,i){var y=t+ph;
    for(var c=0;c<3;c++){if(!b[c]){continue;} var bh=ph*b[c]/maxc; y-=bh;
      var rect=el("rect",{x:l+i*bw+1,y:y,width:Math.max(1,bw-2),height:bh,fill:cols[c],
        "class":"fl-bin"});
      var a=lo+(hi-lo)*i/nb, z=lo+(hi-lo)*(i+1)/nb;
      rect.appendChild(el("title",{},fmtNum(a)+"\u2013"+fmtNum(z)+" "+unit+": "+b[c]+" "+
        ["passed","failed","not evaluated"][c]));
      s.appendChild(rect);}});
  for(var x=0;x<=4;x++){var v=lo+(hi-lo)*x/4;
    s.appendChild(el("text",{x:l+pw*x/4,y:h-bt+14,"font-size":10,fill:"#667085",
      "text-anchor":x===0?"start":x===4?"end":"middle"},fmtNum(v,hi-lo<10?2:0)));}
  s.appendChild(el("text",{x:l+pw/2,y:h-4,"font-size":11,fill:"#667085","text-anchor":"middle"},
    unit));
  (markers||[]).forEach(function(m,mi){ if(m.value==null){return;}
    var mx=l+pw*(m.value-lo)/(hi-lo); if(mx<l||mx>w-r){return;}
    s.appendChild(el("line",{x1:mx,x2:mx,y1:t,y2:t+ph,stroke:"#3b5bdb","stroke-dasharray":"4 3"}));
    s.appendChild(el("text",{x:mx+3,y:t+10+12*mi,"font-size":10,fill:"#3b5bdb"},m.label));});
  host.appendChild(s);
}

var TYPE_COLORS={agent:"#3b5bdb",tool:"#0e9384",generation:"#7a5af8",retrieval:"#dd2590",
  embedding:"#c11574",chain:"#6172f3",span:"#667085",event:"#f79009",evaluation:"#039855"};

function gantt(host, spans){
  var rowH=18, w=900, left=260, h=spans.length*rowH+30;
  var end=0; spans.forEach(function(s){var e=(s.start_ms||0)+(s.duration_ms||0);
    if(e>end){end=e;}}); if(end<=0){end=1;}
  var s=svg(w,h,"fl-gantt"); s.appendChild(el("title",{},"Timeline"));
  for(var x=0;x<=4;x++){var gx=left+(w-left-10)*x/4;
    s.appendChild(el("line",{x1:gx,x2:gx,y1:0,y2:h-18,stroke:"#eaecf0"}));
    s.appendChild(el("text",{x:gx,y:h-4,"font-size":10,fill:"#667085",
      "text-anchor":x===0?"start":x===4?"end":"middle"},fmtNum(end*x/4,2)+" ms"));}
  spans.forEach(function(sp,i){var y=i*rowH+2;
    var name=sp.name.length>30?sp.name.slice(0,29)+"\u2026":sp.name;
    s.appendChild(el("text",{x:8+Math.min(sp.depth,8)*10,y:y+12,"font-size":11,
      fill:sp.error?"#d92d20":"#1d2330"},"["+sp.type+"] "+name));
    var x0=left+(w-left-10)*(sp.start_ms||0)/end;
    var bw=Math.max(2,(w-left-10)*(sp.duration_ms||0)/end);
    var r=el("rect",{x:x0,y:y+2,width:bw,height:rowH-6,rx:2,"class":"fl-span",
      fill:sp.error?"#d92d20":(TYPE_COLORS[sp.type]||"#667085")});
    r.appendChild(el("title",{},"#"+sp.n+" ["+sp.type+"] "+sp.name+": "+
      fmtNum(sp.duration_ms,3)+" ms"+(sp.error?" \u2014 "+sp.error:"")));
    s.appendChild(r);});
  host.appendChild(s);
}

bars("chart-evaluators", D.summary.evaluators.map(function(e){
  return {label:e.name, value:e.pass_rate, sub:e.passed+"/"+(e.passed+e.failed)+" passed"};}),
  "Pass rate by evaluator");
bars("chart-personas", Object.keys(D.summary.per_persona).map(function(k){
  var g=D.summary.per_persona[k]; return {label:k, value:g.pass_rate,
  sub:g.passed+"/"+g.evaluated+" passed"};}), "Pass rate by persona");
var lat=D.summary.overall.latency_ms;
histogram("chart-latency", 0, "ms", [{label:"p50",value:lat.p50},{label:"p95",value:lat.p95}]);
histogram("chart-tokens", 1, "tokens per run", [{label:"mean",
  value:D.summary.overall.tokens.mean}]);
document.querySelectorAll("[data-timeline]").forEach(function(host){
  var t=D.timelines[Number(host.getAttribute("data-timeline"))];
  if(t&&t.spans.length){gantt(host,t.spans);}
  else{var p=document.createElement("p");p.className="muted";
    p.textContent="(no observations recorded)";host.appendChild(p);}});
var filter=document.getElementById("trace-filter");
if(filter){filter.addEventListener("input",function(){var q=filter.value.toLowerCase();
  document.querySelectorAll("#trace-table tbody tr").forEach(function(tr){
    tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?"":"none";});});}
document.body.setAttribute("data-charts","rendered");
})();
"""


def _e(value: Any) -> str:
    return escape(str(value if value is not None else ""), quote=True)


def _badge(passed: bool | None) -> str:
    if passed is None:
        return '<span class="verdict skip">N/A</span>'
    return (
        '<span class="verdict pass">PASS</span>'
        if passed
        else '<span class="verdict fail">FAIL</span>'
    )


def _data_json(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))
    # safe inside <script>: no "</script", no "<!--"
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(headers: list[str], rows: list[list[Any]], table_id: str = "") -> str:
    """A table; a header starting with ``#`` marks a right-aligned numeric column. Cells are
    escaped unless wrapped in :class:`_Raw`."""
    numeric = [h.startswith("#") for h in headers]
    head = "".join(
        f'<th class="n">{_e(h[1:])}</th>' if n else f"<th>{_e(h)}</th>"
        for h, n in zip(headers, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = []
        for value, n in zip(row, numeric, strict=True):
            text = value.html if isinstance(value, _Raw) else _e(value)
            cells.append(f'<td class="n">{text}</td>' if n else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    def __init__(self, html: str) -> None:
        self.html = html


def _section(ident: str, title: str, inner: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{inner}</section>'


_LEGEND = (
    '<div class="legend"><span><i style="background:#12a150"></i>passed</span>'
    '<span><i style="background:#d92d20"></i>failed</span>'
    '<span><i style="background:#98a2b3"></i>not evaluated</span></div>'
)


def render_html_report(summary: Mapping[str, Any], acc: Accumulator) -> str:
    overall = summary["overall"]
    lat = overall["latency_ms"]
    tok = overall["tokens"]
    rows = [*acc.rows_failing, *acc.rows_passing]
    per_input = sorted(
        summary["per_input"],
        key=lambda g: (g["pass_rate"] if g["pass_rate"] is not None else -1, g["input"]),
    )
    payload = {
        "summary": {
            "evaluators": summary["evaluators"],
            "per_persona": summary["per_persona"],
            "overall": overall,
        },
        "points": [[p[0], p[1], p[2]] for p in acc.points],
        "timelines": [
            {"spans": t["spans"], "trace_id": t["trace_id"], "passed": t["passed"]}
            for t in acc.timelines
        ],
    }
    passed_of = f"{overall['passed']}/{overall['evaluated']} traces"
    cards = [
        ("pass-rate", "Pass rate", pct(overall["pass_rate"]), passed_of),
        (
            "mean-score",
            "Mean score",
            num(overall["mean_score"], 3),
            f"threshold {summary['aggregate']['threshold']}",
        ),
        ("success-rate", "Run success", pct(overall["success_rate"]), f"{overall['traces']} runs"),
        (
            "pass-k",
            "pass@k / pass^k",
            f"{pct(overall['pass_at_k'])} / {pct(overall['pass_hat_k'])}",
            f"k={overall['k']}, {overall['inputs']} inputs",
        ),
        ("latency", "Latency p50 / p95", f"{num(lat['p50'])} / {num(lat['p95'])}", "ms"),
        ("tokens", "Tokens", num(tok["total"], 0), f"mean {num(tok['mean'])} per run"),
    ]
    verdict_class = "pass" if summary["passed"] else "fail"
    verdict_text = "PASSED" if summary["passed"] else "FAILED"
    agg = summary["aggregate"]
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>FluxLoop evaluation: {_e(summary['experiment'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>Evaluation: {_e(summary['experiment'])}"
        f'<span id="verdict" class="verdict {verdict_class}">{verdict_text}</span></h1>',
        f'<div class="sub">{_e(summary["evaluated_at"])} · config {_e(summary["config"])} · '
        f"{_e(agg['method'])}, trace threshold {_e(agg['threshold'])}</div>",
        "</header><main>",
        '<noscript><p class="muted">Charts need JavaScript; every number is in the tables '
        "below.</p></noscript>",
    ]
    if summary.get("evaluation_goal"):
        out.append(f"<p><strong>Goal:</strong> {_e(summary['evaluation_goal'])}</p>")
    out.append('<div class="cards">')
    for ident, title, value, sub in cards:
        out.append(
            f'<div class="card" id="card-{ident}"><div class="k">{_e(title)}</div>'
            f'<div class="v">{_e(value)}</div><div class="s">{_e(sub)}</div></div>'
        )
    out.append("</div>")
    gate_rows: list[list[Any]] = []
    for gate in summary["gates"]:
        cls = "gate-pass" if gate["passed"] else "gate-fail"
        gate_rows.append(
            [
                _Raw(f"<code>{_e(gate['name'])}</code>"),
                _Raw(f'<span class="{cls}">{_e(fmt_gate(gate))}</span>'),
            ]
        )
    out.append(_section("gates", "Gates", _table(["gate", "result"], gate_rows)))
    out.append('<div class="grid">')
    for ident, title in (
        ("chart-evaluators", "Pass rate by evaluator"),
        ("chart-personas", "Pass rate by persona"),
        ("chart-latency", "Latency per run"),
        ("chart-tokens", "Tokens per run"),
    ):
        legend = _LEGEND if ident in ("chart-latency", "chart-tokens") else ""
        out.append(
            f'<section><h2>{_e(title)}</h2>{legend}<div class="chart" id="{ident}"></div></section>'
        )
    out.append("</div>")
    ev_rows = [
        [
            ev["name"],
            ev["type"],
            f"{ev['weight']:g}",
            num(ev["mean_score"], 3),
            pct(ev["pass_rate"]),
            ev["passed"],
            ev["failed"],
            ev["skipped"],
            ev["inconclusive"],
        ]
        for ev in summary["evaluators"]
    ]
    ev_head = [
        "evaluator",
        "type",
        "#weight",
        "#mean score",
        "#pass rate",
        "#passed",
        "#failed",
        "#skipped",
        "#inconclusive",
    ]
    out.append(_section("evaluators", "Evaluators", _table(ev_head, ev_rows)))
    persona_rows = [
        [
            name,
            g["traces"],
            pct(g["pass_rate"]),
            num(g["mean_score"], 3),
            pct(g["success_rate"]),
            num(g["latency_ms"]["p50"]),
            num(g["latency_ms"]["p95"]),
            num(g["tokens"]["mean"]),
        ]
        for name, g in summary["per_persona"].items()
    ]
    persona_head = [
        "persona",
        "#traces",
        "#pass rate",
        "#mean score",
        "#run success",
        "#p50 ms",
        "#p95 ms",
        "#mean tokens",
    ]
    out.append(_section("personas", "By persona", _table(persona_head, persona_rows)))
    input_rows = [
        [
            g["input"][:160],
            g["persona"] or "",
            g["traces"],
            pct(g["pass_rate"]),
            num(g["mean_score"], 3),
            pct(g["pass_at_k"]),
            pct(g["pass_hat_k"]),
        ]
        for g in per_input[:200]
    ]
    input_head = ["input", "persona", "#runs", "#pass rate", "#mean score", "#pass@k", "#pass^k"]
    out.append(
        _section(
            "inputs",
            f"By input across iterations ({overall['inputs']}, worst first)",
            f'<div class="scroll">{_table(input_head, input_rows)}</div>',
        )
    )
    trace_rows = [
        [
            _Raw(f"<code>{_e(row['stem'])}</code>"),
            row["persona"] or "",
            row["input"],
            num(row["score"], 3),
            _Raw(_badge(row["passed"])),
            num(row["duration_ms"], 2),
            num(row["tokens"], 0),
            row["reason"],
        ]
        for row in rows
    ]
    trace_head = ["trace", "persona", "input", "#score", "verdict", "#ms", "#tokens", "why"]
    out.append(
        _section(
            "traces",
            f"Traces (failing first; {len(rows)} of {overall['traces']} shown)",
            '<input id="trace-filter" class="filter" placeholder="filter traces…">'
            f'<div class="scroll">{_table(trace_head, trace_rows, "trace-table")}</div>',
        )
    )
    details = []
    # failing first, as the title says (they were collected in evaluation order); the first
    # three open are then failures when there are any. data-timeline keeps the payload index.
    ordered = sorted(enumerate(acc.timelines), key=lambda item: item[1]["passed"] is not False)
    for rank, (i, t) in enumerate(ordered):
        opened = " open" if rank < 3 else ""
        steps = f"({len(t['spans'])} steps, {num(t['duration_ms'], 2)} ms)"
        details.append(
            f'<details class="tl"{opened}><summary>{_badge(t["passed"])} '
            f"<code>{_e(t['stem'])}</code> {_e(t['persona'] or '')} — {_e(t['input'][:100])} "
            f'<span class="muted">{_e(steps)}</span></summary>'
            f'<div class="chart" data-timeline="{i}"></div></details>'
        )
    title = f"Timelines ({len(acc.timelines)} traces, failing first)"
    out.append(_section("timelines", title, "".join(details)))
    llm = summary["llm"]
    out.append(
        f'<p class="muted">Generated by fluxloop evaluate · {llm["calls"]} judge call(s), '
        f"{llm['cache_hits']} cached · {summary['duration_seconds']} s</p>"
    )
    out.append(
        f'</main><script type="application/json" id="fluxloop-data">{_data_json(payload)}</script>'
    )
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
