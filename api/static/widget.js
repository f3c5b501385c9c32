/*
 * ragqa chat widget — one tag on any page:
 *   <script src="http://HOST/widget.js" data-endpoint="http://HOST"></script>
 * Optional attributes: data-title (panel title), data-api-key (only when the server sets read_requires_key),
 * data-collection (the collection to answer from; the server's "default" when left out).
 *
 * Vanilla JS, no build step, no external network. Everything lives in a shadow root (isolated styles), and every
 * piece of document or model text is inserted with textContent / createTextNode, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__ragqaWidgetLoaded) return;
  window.__ragqaWidgetLoaded = true;

  var endpoint = (script.getAttribute("data-endpoint") || new URL(script.src, window.location.href).origin).replace(
    /\/+$/,
    ""
  );
  var panelTitle = script.getAttribute("data-title") || "Ask the articles";
  var apiKey = script.getAttribute("data-api-key") || "";
  var collection = script.getAttribute("data-collection") || "";
  var MAX_HISTORY_TURNS = 10;
  var REFUSAL = "The articles don't say.";

  var CSS = [
    ":host { all: initial; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".root { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2433; }",
    ".bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%;",
    "  border: none; background: #2547d0; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25);",
    "  display: flex; align-items: center; justify-content: center; z-index: 2147483000; }",
    ".bubble:hover { background: #1c39ad; }",
    ".bubble svg { width: 28px; height: 28px; fill: currentColor; }",
    "button:focus-visible, textarea:focus-visible { outline: 3px solid #f6ad55; outline-offset: 2px; }",
    ".panel { position: fixed; right: 20px; bottom: 88px; width: min(400px, calc(100vw - 24px));",
    "  height: min(600px, calc(100vh - 110px)); background: #fff; border-radius: 12px; z-index: 2147483000;",
    "  box-shadow: 0 10px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    ".head { display: flex; align-items: center; justify-content: space-between; padding: 10px 12px;",
    "  background: #2547d0; color: #fff; }",
    ".head h2 { font-size: 16px; margin: 0; font-weight: 600; }",
    ".icon-btn { background: transparent; border: none; color: inherit; font-size: 22px; line-height: 1;",
    "  width: 36px; height: 36px; border-radius: 6px; cursor: pointer; }",
    ".icon-btn:hover { background: rgba(255,255,255,.15); }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px;",
    "  background: #f6f7f9; }",
    ".hint { color: #4a5568; font-size: 14px; margin: 0; }",
    ".msg { max-width: 92%; padding: 8px 11px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word;",
    "  overflow-wrap: anywhere; }",
    ".msg p { margin: 0; }",
    ".msg.user { align-self: flex-end; background: #2547d0; color: #fff; }",
    ".msg.bot { align-self: flex-start; background: #fff; border: 1px solid #e2e8f0; }",
    ".msg .status { color: #4a5568; font-size: 13px; font-style: italic; }",
    ".msg.refused { background: #fff8e6; border: 1px solid #f6c453; border-left: 4px solid #d69e2e; }",
    ".msg.refused .refusal { font-weight: 600; color: #744210; }",
    ".msg.refused .reason { color: #744210; font-size: 13px; margin-top: 4px; }",
    ".related { margin-top: 6px; font-size: 13px; color: #4a5568; }",
    ".related-head { font-style: italic; }",
    ".related-quote { margin: 4px 0; padding: 4px 8px; border-left: 3px solid #cbd5e0; background: #fffdf5; }",
    ".related-quote cite { font-style: normal; font-size: 12px; }",
    ".msg.error { background: #fdecec; border: 1px solid #f5a3a3; border-left: 4px solid #c53030; color: #742a2a; }",
    ".retry { margin-top: 6px; padding: 5px 12px; border-radius: 6px; border: 1px solid #c53030; background: #fff;",
    "  color: #c53030; cursor: pointer; font: inherit; font-size: 14px; }",
    ".cite { display: inline; margin: 0 1px; padding: 0 3px; border: none; border-radius: 4px; background: #e6ecff;",
    "  color: #1c39ad; font: inherit; font-size: 12px; font-weight: 600; vertical-align: super; cursor: pointer; }",
    ".cite:hover { background: #c9d5ff; }",
    ".sources { margin-top: 6px; font-size: 12px; color: #4a5568; }",
    ".feedback { margin-top: 6px; display: flex; align-items: center; gap: 6px; flex-wrap: wrap; font-size: 13px;",
    "  color: #4a5568; }",
    ".feedback .rate { border: 1px solid #cbd5e0; background: #fff; border-radius: 6px; padding: 1px 7px;",
    "  cursor: pointer; font: inherit; font-size: 15px; }",
    ".feedback .rate[aria-pressed='true'] { background: #e6ecff; border-color: #2547d0; }",
    ".feedback input { flex: 1; min-width: 120px; font: inherit; font-size: 13px; padding: 3px 6px;",
    "  border: 1px solid #cbd5e0; border-radius: 6px; }",
    ".feedback .send-comment { font: inherit; font-size: 13px; padding: 2px 8px; border-radius: 6px;",
    "  border: 1px solid #2547d0; background: #fff; color: #2547d0; cursor: pointer; }",
    ".quote { border-top: 1px solid #e2e8f0; background: #fff; padding: 10px 12px; max-height: 45%; overflow-y: auto; }",
    ".quote[hidden] { display: none; }",
    ".quote-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }",
    ".quote-head h3 { font-size: 14px; margin: 0; }",
    ".quote .icon-btn { color: #1d2433; font-size: 20px; width: 30px; height: 30px; }",
    ".quote .icon-btn:hover { background: #edf2f7; }",
    ".quote blockquote { margin: 6px 0; padding: 6px 10px; border-left: 3px solid #2547d0; background: #f6f7f9;",
    "  white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".quote .source { font-size: 12px; color: #4a5568; margin: 0; overflow-wrap: anywhere; }",
    ".form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e2e8f0; background: #fff; }",
    ".form textarea { flex: 1; resize: none; font: inherit; padding: 8px 10px; border: 1px solid #cbd5e0;",
    "  border-radius: 8px; min-height: 40px; max-height: 120px; color: #1d2433; background: #fff; }",
    ".send { padding: 0 14px; border: none; border-radius: 8px; background: #2547d0; color: #fff; font: inherit;",
    "  font-weight: 600; cursor: pointer; }",
    ".send:disabled { background: #a0aec0; cursor: default; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }",
    "@media (max-width: 480px) {",
    "  .panel { right: 8px; left: 8px; bottom: 76px; width: auto; height: calc(100vh - 88px); }",
    "  .bubble { right: 12px; bottom: 12px; }",
    "}"
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  /* Parse a fetch() body as Server-Sent Events; calls onEvent(name, data) per event. */
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function dispatch(block) {
      var name = "message";
      var data = [];
      block.split("\n").forEach(function (raw) {
        var line = raw.replace(/\r$/, "");
        if (!line || line.charAt(0) === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.charAt(0) === " ") value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (data.length) onEvent(name, data.join("\n"));
    }
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
    buffer += decoder.decode();
    if (buffer.trim()) dispatch(buffer);
  }

  function Widget() {
    this.history = [];
    this.busy = false;
    this.quoteOpener = null;
    this.build();
  }

  Widget.prototype.build = function () {
    var self = this;
    var host = el("div");
    host.id = "ragqa-widget";
    document.body.appendChild(host);
    var shadow = host.attachShadow({ mode: "open" });
    var style = el("style", null, CSS);
    shadow.appendChild(style);
    var root = el("div", "root");
    shadow.appendChild(root);

    var bubble = el("button", "bubble");
    bubble.type = "button";
    bubble.setAttribute("aria-label", "Open chat: " + panelTitle);
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-controls", "ragqa-panel");
    bubble.appendChild(chatIcon());
    root.appendChild(bubble);

    var panel = el("div", "panel");
    panel.id = "ragqa-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-labelledby", "ragqa-title");

    var head = el("div", "head");
    var h2 = el("h2", null, panelTitle);
    h2.id = "ragqa-title";
    var close = el("button", "icon-btn close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    head.appendChild(h2);
    head.appendChild(close);

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Conversation");
    log.appendChild(
      el("p", "hint", "Ask a question about the indexed articles. Answers quote the articles; click [1] to see a quote.")
    );

    var quote = el("aside", "quote");
    quote.hidden = true;
    quote.setAttribute("role", "region");
    quote.setAttribute("aria-label", "Cited passage");
    var quoteHead = el("div", "quote-head");
    var quoteTitle = el("h3");
    var quoteClose = el("button", "icon-btn quote-close", "\u00d7");
    quoteClose.type = "button";
    quoteClose.setAttribute("aria-label", "Close the cited passage");
    quoteHead.appendChild(quoteTitle);
    quoteHead.appendChild(quoteClose);
    var quoteText = el("blockquote");
    var quoteSource = el("p", "source");
    quote.appendChild(quoteHead);
    quote.appendChild(quoteText);
    quote.appendChild(quoteSource);

    var form = el("form", "form");
    form.setAttribute("aria-label", "Ask a question");
    var input = el("textarea");
    input.rows = 1;
    input.placeholder = "Ask a question\u2026";
    input.setAttribute("aria-label", "Your question");
    input.maxLength = 1000;
    var send = el("button", "send", "Send");
    send.type = "submit";
    send.setAttribute("aria-label", "Send question");
    form.appendChild(input);
    form.appendChild(send);

    var live = el("div", "sr-only");
    live.setAttribute("aria-live", "assertive");

    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(quote);
    panel.appendChild(form);
    panel.appendChild(live);
    root.appendChild(panel);

    this.els = {
      bubble: bubble,
      panel: panel,
      close: close,
      log: log,
      quote: quote,
      quoteTitle: quoteTitle,
      quoteText: quoteText,
      quoteSource: quoteSource,
      quoteClose: quoteClose,
      input: input,
      send: send,
      live: live
    };

    bubble.addEventListener("click", function () {
      if (panel.hidden) self.open();
      else self.close();
    });
    close.addEventListener("click", function () {
      self.close();
    });
    quoteClose.addEventListener("click", function () {
      self.closeQuote();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submit();
      }
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        if (!quote.hidden) self.closeQuote();
        else self.close();
      }
    });
  };

  Widget.prototype.open = function () {
    this.els.panel.hidden = false;
    this.els.bubble.setAttribute("aria-expanded", "true");
    this.els.bubble.setAttribute("aria-label", "Close chat: " + panelTitle);
    this.els.input.focus();
  };

  Widget.prototype.close = function () {
    this.closeQuote(true);
    this.els.panel.hidden = true;
    this.els.bubble.setAttribute("aria-expanded", "false");
    this.els.bubble.setAttribute("aria-label", "Open chat: " + panelTitle);
    this.els.bubble.focus();
  };

  Widget.prototype.scroll = function () {
    this.els.log.scrollTop = this.els.log.scrollHeight;
  };

  Widget.prototype.submit = function () {
    var question = this.els.input.value.trim();
    if (!question || this.busy) return;
    this.els.input.value = "";
    this.els.log.appendChild(el("div", "msg user", question));
    this.ask(question);
  };

  Widget.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.els.send.disabled = busy;
    this.els.log.setAttribute("aria-busy", busy ? "true" : "false");
  };

  Widget.prototype.ask = async function (question) {
    var self = this;
    var msg = el("div", "msg bot");
    var status = el("p", "status", "Searching the articles\u2026");
    var body = el("p", "text");
    var streamed = document.createTextNode("");
    body.appendChild(streamed);
    msg.appendChild(status);
    msg.appendChild(body);
    this.els.log.appendChild(msg);
    this.scroll();
    this.setBusy(true);
    var finished = false;
    var failed = false;
    var headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (apiKey) headers.Authorization = "Bearer " + apiKey;
    try {
      var response = await fetch(endpoint + "/v1/ask/stream", {
        method: "POST",
        headers: headers,
        body: JSON.stringify(askBody(question, this.history.slice(-2 * MAX_HISTORY_TURNS)))
      });
      if (!response.ok) {
        var message = "The server answered " + response.status + ".";
        try {
          var payload = await response.json();
          if (payload && payload.error && payload.error.message) message = payload.error.message;
        } catch (ignored) {
          /* not JSON */
        }
        failed = true;
        this.showError(msg, question, message);
        return;
      }
      await readEvents(response, function (name, data) {
        var value;
        try {
          value = JSON.parse(data);
        } catch (ignored) {
          return;
        }
        if (name === "passages") {
          status.textContent = value.length
            ? "Found " + value.length + " passage" + (value.length === 1 ? "" : "s") + ". Writing the answer\u2026"
            : "No matching passages.";
        } else if (name === "token") {
          streamed.appendData(String(value.text || ""));
          self.scroll();
        } else if (name === "answer") {
          finished = true;
          self.renderAnswer(msg, value);
          self.history.push({ role: "user", content: question });
          self.history.push({ role: "assistant", content: String(value.answer || "") });
          self.history = self.history.slice(-2 * MAX_HISTORY_TURNS);
        } else if (name === "error") {
          failed = true;
          self.showError(msg, question, (value.error && value.error.message) || "The answer failed.");
        }
      });
      if (!finished && !failed) {
        failed = true;
        this.showError(msg, question, "The connection ended before the answer was complete.");
      }
    } catch (err) {
      if (!failed) this.showError(msg, question, "Could not reach the server (" + (err && err.message) + ").");
    } finally {
      this.setBusy(false);
      this.scroll();
    }
  };

  Widget.prototype.renderAnswer = function (msg, answer) {
    var self = this;
    clear(msg);
    msg.className = "msg bot answer";
    if (answer.refused) {
      msg.classList.add("refused");
      msg.appendChild(el("p", "refusal", answer.answer || REFUSAL));
      if (answer.refusal_reason) msg.appendChild(el("p", "reason", "Why: " + answer.refusal_reason));
      if ((answer.related || []).length) {
        var related = el("div", "related");
        related.appendChild(el("p", "related-head", "Related, not an answer:"));
        answer.related.forEach(function (c) {
          var item = el("blockquote", "related-quote", "\u201c" + c.quote + "\u201d");
          item.appendChild(el("cite", "", " \u2014 " + c.title));
          related.appendChild(item);
        });
        msg.appendChild(related);
      }
      this.addFeedback(msg, answer);
      this.els.live.textContent = REFUSAL;
      return;
    }
    var numbers = {};
    (answer.citations || []).forEach(function (c) {
      numbers[c.source + "\u0000" + c.start + "\u0000" + c.end] = c.n;
    });
    var text = el("p", "text");
    (answer.sentences || []).forEach(function (sentence, i) {
      if (i > 0) text.appendChild(document.createTextNode(" "));
      text.appendChild(document.createTextNode(String(sentence.text)));
      (sentence.citations || []).forEach(function (c) {
        var n = numbers[c.source + "\u0000" + c.start + "\u0000" + c.end] || "?";
        var button = el("button", "cite", "[" + n + "]");
        button.type = "button";
        button.setAttribute("aria-label", "Show source " + n + ": " + c.title);
        button.addEventListener("click", function () {
          self.openQuote(c, n, button);
        });
        text.appendChild(document.createTextNode("\u00a0"));
        text.appendChild(button);
      });
    });
    msg.appendChild(text);
    var titles = [];
    (answer.citations || []).forEach(function (c) {
      var label = c.title + (c.page ? " (" + pageLabel(c.page) + ")" : "");
      if (titles.indexOf(label) < 0) titles.push(label);
    });
    if (titles.length) msg.appendChild(el("p", "sources", "Sources: " + titles.join(" \u00b7 ")));
    this.addFeedback(msg, answer);
    this.els.live.textContent = "Answer ready.";
  };

  /* 👍 / 👎 under an answer: POST /v1/feedback {answer_id, rating, comment?}; 👎 offers an optional comment. */
  Widget.prototype.addFeedback = function (msg, answer) {
    if (!answer.id) return;
    var self = this;
    var box = el("div", "feedback");
    box.appendChild(el("span", "feedback-label", "Helpful?"));
    var up = el("button", "rate up", "\ud83d\udc4d");
    var down = el("button", "rate down", "\ud83d\udc4e");
    up.type = down.type = "button";
    up.setAttribute("aria-label", "Good answer");
    down.setAttribute("aria-label", "Bad answer");
    up.setAttribute("aria-pressed", "false");
    down.setAttribute("aria-pressed", "false");
    var note = el("span", "feedback-note", "");
    note.setAttribute("role", "status");
    function send(rating, comment) {
      up.disabled = down.disabled = true;
      (rating === "up" ? up : down).setAttribute("aria-pressed", "true");
      return self.sendFeedback(answer.id, rating, comment).then(
        function () {
          note.textContent = "Thanks for the feedback.";
        },
        function (err) {
          note.textContent = "Feedback not sent (" + (err && err.message) + ").";
          up.disabled = down.disabled = false;
        }
      );
    }
    up.addEventListener("click", function () {
      send("up", "");
    });
    down.addEventListener("click", function () {
      up.disabled = down.disabled = true;
      down.setAttribute("aria-pressed", "true");
      var input = el("input", "comment");
      input.type = "text";
      input.maxLength = 2000;
      input.placeholder = "What was wrong? (optional)";
      input.setAttribute("aria-label", "What was wrong with the answer (optional)");
      var go = el("button", "send-comment", "Send");
      go.type = "button";
      function submit() {
        go.disabled = input.disabled = true;
        send("down", input.value).then(function () {
          if (input.parentNode) input.parentNode.removeChild(input);
          if (go.parentNode) go.parentNode.removeChild(go);
        });
      }
      go.addEventListener("click", submit);
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") submit();
      });
      box.insertBefore(input, note);
      box.insertBefore(go, note);
      input.focus();
    });
    box.appendChild(up);
    box.appendChild(down);
    box.appendChild(note);
    msg.appendChild(box);
  };

  Widget.prototype.sendFeedback = async function (answerId, rating, comment) {
    var headers = { "Content-Type": "application/json" };
    if (apiKey) headers.Authorization = "Bearer " + apiKey;
    var body = { answer_id: answerId, rating: rating };
    if (comment) body.comment = comment;
    var response = await fetch(endpoint + "/v1/feedback", {
      method: "POST",
      headers: headers,
      body: JSON.stringify(body)
    });
    if (!response.ok) throw new Error("the server answered " + response.status);
  };

  Widget.prototype.showError = function (msg, question, message) {
    var self = this;
    clear(msg);
    msg.className = "msg bot error";
    msg.setAttribute("role", "alert");
    msg.appendChild(el("p", "error-text", "Something went wrong: " + message));
    var retry = el("button", "retry", "Retry");
    retry.type = "button";
    retry.setAttribute("aria-label", "Retry the question");
    retry.addEventListener("click", function () {
      if (self.busy) return;
      msg.parentNode.removeChild(msg);
      self.ask(question);
    });
    msg.appendChild(retry);
    retry.focus();
  };

  Widget.prototype.openQuote = function (citation, n, opener) {
    this.quoteOpener = opener;
    this.els.quoteTitle.textContent = "[" + n + "] " + citation.title;
    this.els.quoteText.textContent = "\u201c" + citation.quote + "\u201d";
    this.els.quoteSource.textContent =
      "Source: " +
      citation.source +
      (citation.page ? " \u00b7 " + pageLabel(citation.page) : "") +
      " \u00b7 characters " +
      citation.start +
      "\u2013" +
      citation.end;
    this.els.quote.hidden = false;
    this.els.quoteClose.focus();
  };

  Widget.prototype.closeQuote = function (silent) {
    if (this.els.quote.hidden) return;
    this.els.quote.hidden = true;
    var opener = this.quoteOpener;
    this.quoteOpener = null;
    if (!silent && opener && opener.isConnected) opener.focus();
  };

  /** The /v1/ask/stream body; `collection` only when the page names one (data-collection). */
  function askBody(question, history) {
    var body = { question: question, history: history };
    if (collection) body.collection = collection;
    return body;
  }

  /** "p. 4" for a 1-based page number (PDF page or slide). */
  function pageLabel(page) {
    return "p. " + Number(page);
  }

  function start() {
    window.ragqaWidget = new Widget();
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
