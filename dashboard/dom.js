/* DOM helpers. Every value from the data goes in as a text node or a plain attribute value:
   no innerHTML anywhere, so markup in the data shows as characters and never runs. */
(function (Dash) {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";

  function fill(node, attrs, children) {
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    });
    children.forEach(function (child) {
      if (child === undefined || child === null) return;
      // append() turns a string into a text node: data is never parsed as HTML.
      node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  /** An HTML element with attributes and text or element children. */
  Dash.el = function (tag, attrs) {
    return fill(document.createElement(tag), attrs, [].slice.call(arguments, 2));
  };

  /** An SVG element with attributes and text or element children. */
  Dash.svg = function (tag, attrs) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, [].slice.call(arguments, 2));
  };

  /** Replace a node's children. */
  Dash.replace = function (node) {
    node.replaceChildren.apply(node, [].slice.call(arguments, 1).filter(function (c) { return c !== null && c !== undefined; }));
  };

  /** How a value from the endpoint's JSON is shown: exactly as JSON gave it. */
  Dash.show = function (value) {
    return value === null || value === undefined ? "" : String(value);
  };
})(window.Dash = window.Dash || {});
