/* Bar charts in plain SVG: labels in <text>, tooltips in <title>, both filled as text. */
(function (Dash) {
  "use strict";
  var svg = Dash.svg;
  var LABEL_CHARS = 30; // longer labels are cut on screen; the full value is in the tooltip

  function cut(label) {
    return label.length > LABEL_CHARS ? label.slice(0, LABEL_CHARS - 1) + "\u2026" : label;
  }

  function legend(series, y) {
    var g = svg("g", { "class": "legend" });
    series.forEach(function (s, i) {
      var x = 4 + i * 130;
      g.append(svg("rect", { x: x, y: y, width: 10, height: 10, "class": "bar " + s.cls }));
      g.append(svg("text", { x: x + 14, y: y + 9 }, s.name));
    });
    return g;
  }

  /**
   * Horizontal bars, one group per row, one bar per series.
   * rows: [{label, values: {seriesKey: number}}]; series: [{key, name, cls}].
   */
  Dash.hbars = function (rows, series) {
    var width = 500, labelW = 200, valueW = 52, barH = 14, groupGap = 10;
    var groupH = series.length * (barH + 2) + groupGap, top = 22;
    var height = top + rows.length * groupH + 4;
    var max = 0;
    rows.forEach(function (r) { series.forEach(function (s) { max = Math.max(max, Number(r.values[s.key]) || 0); }); });
    var scale = (width - labelW - valueW) / (max || 1);
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img", "class": "chart hbars" });
    root.append(legend(series, 4));
    rows.forEach(function (r, i) {
      var label = Dash.show(r.label), y = top + i * groupH;
      var g = svg("g", { "class": "row" });
      g.append(svg("text", { "class": "label", x: labelW - 8, y: y + barH, "text-anchor": "end" }, cut(label)));
      series.forEach(function (s, j) {
        var v = Number(r.values[s.key]) || 0, by = y + j * (barH + 2);
        var rect = svg("rect", { "class": "bar " + s.cls, x: labelW, y: by, width: Math.max(v * scale, 1), height: barH });
        rect.append(svg("title", {}, label + " \u2014 " + s.name + ": " + Dash.show(r.values[s.key])));
        g.append(rect);
        g.append(svg("text", { "class": "value", x: labelW + Math.max(v * scale, 1) + 4, y: by + barH - 3 }, Dash.show(r.values[s.key])));
      });
      root.append(g);
    });
    return root;
  };

  /** Vertical bars for a small distribution: bars = [{label, value, title}]. */
  Dash.vbars = function (bars) {
    var width = 380, height = 150, bottom = 22, top = 14, gap = 8;
    var barW = (width - gap * (bars.length + 1)) / Math.max(bars.length, 1);
    var max = Math.max.apply(null, bars.map(function (b) { return b.value; }).concat([1]));
    var scale = (height - top - bottom) / max;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img", "class": "chart vbars" });
    bars.forEach(function (b, i) {
      var x = gap + i * (barW + gap), h = Math.max(b.value * scale, b.value ? 1 : 0);
      var y = height - bottom - h;
      var g = svg("g", { "class": "col" });
      var rect = svg("rect", { "class": "bar s-a", x: x, y: y, width: barW, height: h });
      rect.append(svg("title", {}, b.title));
      g.append(rect);
      g.append(svg("text", { "class": "value", x: x + barW / 2, y: y - 3, "text-anchor": "middle" }, String(b.value)));
      g.append(svg("text", { "class": "label", x: x + barW / 2, y: height - 6, "text-anchor": "middle" }, b.label));
      root.append(g);
    });
    return root;
  };
})(window.Dash = window.Dash || {});
