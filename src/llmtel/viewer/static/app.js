// Entry point: URL routing (/ is the trace list, /trace/<id> one trace), theme, global link handling.

import { h, mount } from "./dom.js";
import { renderList } from "./list.js";
import { renderTrace } from "./trace.js";

const root = document.getElementById("app");
const THEMES = ["auto", "light", "dark"];

function applyTheme(theme) {
  if (theme === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
  const button = document.getElementById("theme");
  if (button) button.textContent = `Theme: ${theme}`;
}

function storedTheme() {
  try {
    return localStorage.getItem("llmtel.theme") || "auto";
  } catch {
    return "auto";
  }
}

/** Remember the list URL (with its filters) for the trace page's back link. */
function rememberListUrl() {
  try {
    sessionStorage.setItem("llmtel.listUrl", location.pathname + location.search);
  } catch {
    // storage unavailable: the back link goes to the unfiltered list
  }
}

/** Change the URL; re-render unless `render` is false (the view already shows the new state). */
function navigate(url, { replace = false, render = true } = {}) {
  if (url === location.pathname + location.search && !render) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  if (location.pathname === "/") rememberListUrl();
  if (render) route();
}

function route() {
  if (root.cleanup) root.cleanup();
  root.cleanup = null;
  root.routeToken = {}; // a view that finishes loading after the next navigation must not render
  const match = /^\/trace\/([^/]+)\/?$/.exec(location.pathname);
  if (match) {
    const traceId = decodeURIComponent(match[1]);
    document.title = `Trace ${traceId.slice(0, 8)} · llmtel`;
    renderTrace(root, traceId, { navigate });
  } else if (location.pathname === "/" || location.pathname === "/index.html") {
    document.title = "Traces · llmtel";
    rememberListUrl();
    renderList(root, { navigate });
  } else {
    mount(root, h("div", { class: "page" }, h("div", { class: "empty" }, h("p", { class: "empty-title" }, "Page not found"),
      h("a", { href: "/", "data-nav": "" }, "Go to the trace list"))));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  navigate(link.getAttribute("href"));
});

document.addEventListener("keydown", (event) => {
  if (event.target.closest && event.target.closest("input, select, textarea")) return;
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  if (event.key === "r" && root.reloadList && location.pathname === "/") root.reloadList();
  if (event.key === "/") {
    // search: the trace list's search box, or the waterfall's span finder
    const box = document.getElementById("filter-q") || document.querySelector("input.find");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  }
});

window.addEventListener("popstate", route);

document.getElementById("theme").addEventListener("click", () => {
  const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
  try {
    localStorage.setItem("llmtel.theme", next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyTheme(next);
});

applyTheme(storedTheme());
route();
