/*
 * ragqa chat widget — one tag on any page:
 *   <script src="http://HOST/widget.js" data-endpoint="http://HOST"></script>
 * The tag defines the <ragqa-widget> element and mounts one (id "ragqa-widget") at the end of <body>, carrying the
 * tag's data-* attributes, unless the page already has a <ragqa-widget>. To place or configure the element
 * yourself, write it before the script (or load the script with `defer`):
 *   <ragqa-widget data-endpoint="http://HOST" data-collection="risk"></ragqa-widget>
 *   <script src="http://HOST/widget.js" defer></script>
 * Attributes (on the tag or the element): data-endpoint (default: the origin widget.js came from), data-title
 * (panel title), data-api-key (only when the server sets read_requires_key), data-collection (the collection to
 * answer from; the server's "default" when left out).
 *
 * No build step, no external network. The element renders into a shadow root (isolated styles) cloned from a static
 * template; every piece of document, model or server text goes in as a text node (textContent, createTextNode),
 * never as HTML. The server's limits come from GET /v1/widget/config, not from constants copied here.
 */
(() => {
  "use strict";

  const TAG = "ragqa-widget";
  if (customElements.get(TAG)) return;

  const SCRIPT = document.currentScript;
  const DEFAULT_ENDPOINT = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href).origin : location.origin;
  const DEFAULT_TITLE = "Ask the articles";
  const ATTRIBUTES = ["data-endpoint", "data-title", "data-api-key", "data-collection"];

  const CSS = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
.root { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2433; }
.bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%;
  border: none; background: #2547d0; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25);
  display: flex; align-items: center; justify-content: center; z-index: 2147483000; }
.bubble:hover { background: #1c39ad; }
.bubble svg { width: 28px; height: 28px; fill: currentColor; }
button:focus-visible, textarea:focus-visible { outline: 3px solid #f6ad55; outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(400px, calc(100vw - 24px));
  height: min(600px, calc(100vh - 110px)); background: #fff; border-radius: 12px; z-index: 2147483000;
  box-shadow: 0 10px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }
.panel[hidden] { display: none; }
.head { display: flex; align-items: center; justify-content: space-between; padding: 10px 12px;
  background: #2547d0; color: #fff; }
.head h2 { font-size: 16px; margin: 0; font-weight: 600; }
.icon-btn { background: transparent; border: none; color: inherit; font-size: 22px; line-height: 1;
  width: 36px; height: 36px; border-radius: 6px; cursor: pointer; }
.icon-btn:hover { background: rgba(255,255,255,.15); }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px;
  background: #f6f7f9; }
.hint { color: #4a5568; font-size: 14px; margin: 0; }
.msg { max-width: 92%; padding: 8px 11px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word;
  overflow-wrap: anywhere; }
.msg p { margin: 0; }
.msg.user { align-self: flex-end; background: #2547d0; color: #fff; }
.msg.bot { align-self: flex-start; background: #fff; border: 1px solid #e2e8f0; }
.msg .status { color: #4a5568; font-size: 13px; font-style: italic; }
.msg.refused { background: #fff8e6; border: 1px solid #f6c453; border-left: 4px solid #d69e2e; }
.msg.refused .refusal { font-weight: 600; color: #744210; }
.msg.refused .reason { color: #744210; font-size: 13px; margin-top: 4px; }
.related { margin-top: 6px; font-size: 13px; color: #4a5568; }
.related-head { font-style: italic; }
.related-quote { margin: 4px 0; padding: 4px 8px; border-left: 3px solid #cbd5e0; background: #fffdf5; }
.related-quote cite { font-style: normal; font-size: 12px; }
.msg.error { background: #fdecec; border: 1px solid #f5a3a3; border-left: 4px solid #c53030; color: #742a2a; }
.msg.stopped { color: #4a5568; font-style: italic; }
.retry { margin-top: 6px; padding: 5px 12px; border-radius: 6px; border: 1px solid #c53030; background: #fff;
  color: #c53030; cursor: pointer; font: inherit; font-size: 14px; font-style: normal; }
.cite { display: inline; margin: 0 1px; padding: 0 3px; border: none; border-radius: 4px; background: #e6ecff;
  color: #1c39ad; font: inherit; font-size: 12px; font-weight: 600; vertical-align: super; cursor: pointer; }
.cite:hover { background: #c9d5ff; }
.sources { margin-top: 6px; font-size: 12px; color: #4a5568; }
.feedback { margin-top: 6px; display: flex; align-items: center; gap: 6px; flex-wrap: wrap; font-size: 13px;
  color: #4a5568; }
.feedback .rate { border: 1px solid #cbd5e0; background: #fff; border-radius: 6px; padding: 1px 7px;
  cursor: pointer; font: inherit; font-size: 15px; }
.feedback .rate[aria-pressed='true'] { background: #e6ecff; border-color: #2547d0; }
.feedback input { flex: 1; min-width: 120px; font: inherit; font-size: 13px; padding: 3px 6px;
  border: 1px solid #cbd5e0; border-radius: 6px; }
.feedback .send-comment { font: inherit; font-size: 13px; padding: 2px 8px; border-radius: 6px;
  border: 1px solid #2547d0; background: #fff; color: #2547d0; cursor: pointer; }
.quote { border-top: 1px solid #e2e8f0; background: #fff; padding: 10px 12px; max-height: 45%; overflow-y: auto; }
.quote[hidden] { display: none; }
.quote-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.quote-head h3 { font-size: 14px; margin: 0; }
.quote .icon-btn { color: #1d2433; font-size: 20px; width: 30px; height: 30px; }
.quote .icon-btn:hover { background: #edf2f7; }
.quote blockquote { margin: 6px 0; padding: 6px 10px; border-left: 3px solid #2547d0; background: #f6f7f9;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.quote .source { font-size: 12px; color: #4a5568; margin: 0; overflow-wrap: anywhere; }
.form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e2e8f0; background: #fff; }
.form textarea { flex: 1; resize: none; font: inherit; padding: 8px 10px; border: 1px solid #cbd5e0;
  border-radius: 8px; min-height: 40px; max-height: 120px; color: #1d2433; background: #fff; }
.form textarea[aria-invalid='true'] { border-color: #c53030; }
.count { margin: 0; padding: 0 12px 8px; background: #fff; color: #c53030; font-size: 12px; }
.count[hidden] { display: none; }
.send { padding: 0 14px; border: none; border-radius: 8px; background: #2547d0; color: #fff; font: inherit;
  font-weight: 600; cursor: pointer; }
.send:disabled { background: #a0aec0; cursor: default; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  .panel { right: 8px; left: 8px; bottom: 76px; width: auto; height: calc(100vh - 88px); }
  .bubble { right: 12px; bottom: 12px; }
}
`;

  /** One constructable stylesheet shared by every instance (not subject to the page's inline-style CSP). */
  const SHEET = "adoptedStyleSheets" in Document.prototype ? new CSSStyleSheet() : null;
  if (SHEET) SHEET.replaceSync(CSS);

  /** An element with attributes and children; string children become text nodes, never markup. */
  function h(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    for (const child of children) node.append(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function chatIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.append(path);
    return svg;
  }

  /** The static part of every widget, built once and cloned per element; the code finds its parts by id. */
  const TEMPLATE = document.createElement("template");
  TEMPLATE.content.append(
    h(
      "div",
      { class: "root" },
      h("button", { class: "bubble", id: "bubble", type: "button", "aria-controls": "panel" }, chatIcon()),
      h(
        "div",
        { class: "panel", id: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "title", hidden: "" },
        h(
          "div",
          { class: "head" },
          h("h2", { id: "title" }),
          h("button", { class: "icon-btn close", id: "close", type: "button", "aria-label": "Close chat" }, "\u00d7")
        ),
        h(
          "div",
          { class: "log", id: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" },
          h(
            "p",
            { class: "hint" },
            "Ask a question about the indexed articles. Answers quote the articles; click [1] to see a quote."
          )
        ),
        h(
          "aside",
          { class: "quote", id: "quote", role: "region", "aria-label": "Cited passage", hidden: "" },
          h(
            "div",
            { class: "quote-head" },
            h("h3", { id: "quoteTitle" }),
            h(
              "button",
              {
                class: "icon-btn quote-close",
                id: "quoteClose",
                type: "button",
                "aria-label": "Close the cited passage"
              },
              "\u00d7"
            )
          ),
          h("blockquote", { id: "quoteText" }),
          h("p", { class: "source", id: "quoteSource" })
        ),
        h(
          "form",
          { class: "form", id: "form", "aria-label": "Ask a question" },
          h("textarea", {
            id: "input",
            rows: "1",
            placeholder: "Ask a question\u2026",
            "aria-label": "Your question",
            "aria-describedby": "count"
          }),
          h("button", { class: "send", id: "send", type: "submit", "aria-label": "Send question" }, "Send")
        ),
        h("p", { class: "count", id: "count", hidden: "" }),
        h("div", { class: "sr-only", id: "live", "aria-live": "assertive" })
      )
    )
  );

  /** What went wrong, in words, whatever was thrown ("" when it says nothing: callers add their own words). */
  function describe(error) {
    const text = typeof error === "string" ? error : error && typeof error.message === "string" ? error.message : "";
    return text.trim();
  }

  /** The `error.message` of an error response, else its HTTP status (and status text). */
  async function responseError(response) {
    let payload = null;
    try {
      payload = await response.json();
    } catch (ignored) {
      /* not JSON */
    }
    const message = payload && payload.error && payload.error.message;
    if (typeof message === "string" && message.trim()) return new Error(message);
    return new Error(`the server answered ${response.status}${response.statusText ? " " + response.statusText : ""}`);
  }

  /** fetch(), with a network failure said as such; an abort stays an abort. */
  async function request(url, options) {
    try {
      return await fetch(url, options);
    } catch (error) {
      if (options.signal && options.signal.aborted) throw error;
      const reason = describe(error);
      throw new Error(reason ? `Could not reach the server (${reason}).` : "Could not reach the server.");
    }
  }

  /** One Server-Sent Events block → {name, value} (value parsed as JSON), or null for comments and bad JSON. */
  function parseEvent(block) {
    let name = "message";
    const data = [];
    for (const raw of block.split("\n")) {
      const line = raw.replace(/\r$/, "");
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return null;
    try {
      return { name, value: JSON.parse(data.join("\n")) };
    } catch (ignored) {
      return null;
    }
  }

  /** The events of a fetch() body read as Server-Sent Events. */
  async function* serverSentEvents(response) {
    if (!response.body) throw new Error("the server sent an empty answer");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event) yield event;
      }
    }
    const last = parseEvent(buffer + decoder.decode());
    if (last) yield last;
  }

  /** "p. 4" for a 1-based page number (PDF page or slide). */
  function pageLabel(page) {
    return `p. ${Number(page)}`;
  }

  function passagesStatus(passages) {
    const n = Array.isArray(passages) ? passages.length : 0;
    return n ? `Found ${n} passage${n === 1 ? "" : "s"}. Writing the answer\u2026` : "No matching passages.";
  }

  /** The latest history turns the server accepts (whole user + assistant pairs), each cut to its length limit. */
  function latestTurns(history, limits) {
    const pairs = Number.isInteger(limits.max_history) ? Math.floor(limits.max_history / 2) : Infinity;
    const turns = pairs === Infinity ? history : history.slice(Math.max(0, history.length - 2 * pairs));
    const maxChars = limits.max_turn_chars;
    return turns.map((t) => (Number.isInteger(maxChars) ? { role: t.role, content: t.content.slice(0, maxChars) } : t));
  }

  class RagqaWidget extends HTMLElement {
    static get observedAttributes() {
      return ["data-title"];
    }

    #refs = {};
    #history = [];
    #limits = {};
    #config = null;
    #inFlight = null;
    #quoteOpener = null;

    constructor() {
      super();
      const shadow = this.attachShadow({ mode: "open" });
      if (SHEET) shadow.adoptedStyleSheets = [SHEET];
      else shadow.append(h("style", {}, CSS));
      shadow.append(TEMPLATE.content.cloneNode(true));
      for (const node of shadow.querySelectorAll("[id]")) this.#refs[node.id] = node;
      this.#listen();
    }

    connectedCallback() {
      this.#renderTitle();
    }

    disconnectedCallback() {
      this.#abort();
    }

    attributeChangedCallback() {
      this.#renderTitle();
    }

    get endpoint() {
      return (this.dataset.endpoint || DEFAULT_ENDPOINT).replace(/\/+$/, "");
    }

    get panelTitle() {
      return this.dataset.title || DEFAULT_TITLE;
    }

    /** True while an answer is being fetched. */
    get busy() {
      return this.#inFlight !== null;
    }

    open() {
      this.#refs.panel.hidden = false;
      this.#renderTitle();
      this.#refs.input.focus();
      this.#loadConfig();
    }

    /** Closing stops the answer in flight (the server stops generating it); Retry asks again. */
    close() {
      this.#abort();
      this.#closeQuote(true);
      this.#refs.panel.hidden = true;
      this.#renderTitle();
      this.#refs.bubble.focus();
    }

    #listen() {
      const { bubble, close, quoteClose, form, input, panel, quote } = this.#refs;
      bubble.addEventListener("click", () => (panel.hidden ? this.open() : this.close()));
      close.addEventListener("click", () => this.close());
      quoteClose.addEventListener("click", () => this.#closeQuote());
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.#submit();
      });
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.#submit();
        }
      });
      input.addEventListener("input", () => this.#renderCount());
      panel.addEventListener("keydown", (event) => {
        if (event.key !== "Escape") return;
        event.preventDefault();
        if (!quote.hidden) this.#closeQuote();
        else this.close();
      });
    }

    #renderTitle() {
      const { title, bubble, panel } = this.#refs;
      title.textContent = this.panelTitle;
      bubble.setAttribute("aria-expanded", String(!panel.hidden));
      bubble.setAttribute("aria-label", `${panel.hidden ? "Open" : "Close"} chat: ${this.panelTitle}`);
    }

    /** The server's limits (GET /v1/widget/config), fetched once; while they cannot be read, none are known (the
     * server still enforces them) and the next question tries again. */
    #loadConfig() {
      if (!this.#config) {
        this.#config = request(`${this.endpoint}/v1/widget/config`, { headers: { Accept: "application/json" } })
          .then((response) => (response.ok ? response.json() : null))
          .catch(() => null)
          .then((limits) => {
            if (!limits || typeof limits !== "object") {
              this.#config = null;
              return this.#limits;
            }
            this.#limits = limits;
            this.#renderCount();
            return limits;
          });
      }
      return this.#config;
    }

    /** Over the server's question limit: say so (the server still decides, and names its limit). */
    #renderCount() {
      const { input, count } = this.#refs;
      const max = this.#limits.max_question_chars;
      const n = input.value.trim().length;
      const over = Number.isInteger(max) && n > max;
      input.setAttribute("aria-invalid", String(over));
      count.hidden = !over;
      count.textContent = over ? `${n} characters; questions can have at most ${max}.` : "";
    }

    #headers(extra) {
      const headers = { "Content-Type": "application/json", ...extra };
      if (this.dataset.apiKey) headers.Authorization = `Bearer ${this.dataset.apiKey}`;
      return headers;
    }

    #scroll() {
      this.#refs.log.scrollTop = this.#refs.log.scrollHeight;
    }

    #setBusy(busy) {
      this.#refs.send.disabled = busy;
      this.#refs.log.setAttribute("aria-busy", String(busy));
    }

    /** Abort the answer in flight, if any. */
    #abort() {
      const inFlight = this.#inFlight;
      this.#inFlight = null;
      if (inFlight) {
        inFlight.abort();
        this.#setBusy(false);
      }
    }

    #submit() {
      const question = this.#refs.input.value.trim();
      if (!question || this.busy) return;
      this.#refs.input.value = "";
      this.#renderCount();
      this.#refs.log.append(h("div", { class: "msg user" }, question));
      this.#ask(question);
    }

    /** Ask over /v1/ask/stream: the tokens as they come, then the answer (or an error with Retry). */
    async #ask(question) {
      this.#abort(); // one answer at a time: a new question stops the previous one
      const controller = new AbortController();
      this.#inFlight = controller;
      this.#setBusy(true);
      const reply = this.#pendingReply();
      try {
        const limits = await this.#loadConfig();
        const body = { question, history: latestTurns(this.#history, limits) };
        if (this.dataset.collection) body.collection = this.dataset.collection;
        const response = await request(`${this.endpoint}/v1/ask/stream`, {
          method: "POST",
          headers: this.#headers({ Accept: "text/event-stream" }),
          body: JSON.stringify(body),
          signal: controller.signal
        });
        if (!response.ok) throw await responseError(response);
        await this.#readStream(response, question, reply, () => this.#settle(controller));
      } catch (error) {
        if (reply.answered) return;
        if (controller.signal.aborted) this.#showStopped(reply.msg, question);
        else this.#showError(reply.msg, question, describe(error) || "the answer failed");
      } finally {
        this.#settle(controller);
        this.#scroll();
      }
    }

    /** The answer of ``controller`` is complete (or failed): the next question can be asked. */
    #settle(controller) {
      if (this.#inFlight === controller) {
        this.#inFlight = null;
        this.#setBusy(false);
      }
    }

    /** The bot message that shows progress and the streamed tokens until the answer replaces them. */
    #pendingReply() {
      const status = h("p", { class: "status" }, "Searching the articles\u2026");
      const streamed = document.createTextNode("");
      const msg = h("div", { class: "msg bot" }, status, h("p", { class: "text" }, streamed));
      this.#refs.log.append(msg);
      this.#scroll();
      return { msg, status, streamed, answered: false };
    }

    /** Read the events; ``answered`` runs as soon as the answer is shown, so the next question need not wait for the
     * stream's last event. */
    async #readStream(response, question, reply, answered) {
      for await (const { name, value } of serverSentEvents(response)) {
        if (name === "passages") {
          reply.status.textContent = passagesStatus(value);
        } else if (name === "token") {
          reply.streamed.appendData(String((value && value.text) || ""));
          this.#scroll();
        } else if (name === "answer") {
          this.#renderAnswer(reply.msg, value);
          this.#remember(question, value);
          reply.answered = true;
          answered();
        } else if (name === "error" && !reply.answered) {
          throw new Error((value && value.error && value.error.message) || "the answer failed");
        }
      }
      if (!reply.answered) throw new Error("the connection ended before the answer was complete");
    }

    #remember(question, answer) {
      this.#history.push(
        { role: "user", content: question },
        { role: "assistant", content: String(answer.answer || "") }
      );
      this.#history = latestTurns(this.#history, this.#limits);
    }

    #renderAnswer(msg, answer) {
      msg.replaceChildren();
      msg.className = "msg bot answer";
      if (answer.refused) this.#renderRefusal(msg, answer);
      else this.#renderCited(msg, answer);
      const feedback = this.#feedback(answer);
      if (feedback) msg.append(feedback);
    }

    /** The refusal, its reason, and the closest passages marked "related, not an answer" (never citations). */
    #renderRefusal(msg, answer) {
      const text = String(answer.answer || "");
      msg.classList.add("refused");
      msg.append(h("p", { class: "refusal" }, text));
      if (answer.refusal_reason) msg.append(h("p", { class: "reason" }, `Why: ${answer.refusal_reason}`));
      const related = answer.related || [];
      if (related.length) {
        msg.append(
          h(
            "div",
            { class: "related" },
            h("p", { class: "related-head" }, "Related, not an answer:"),
            ...related.map((c) =>
              h("blockquote", { class: "related-quote" }, `\u201c${c.quote}\u201d`, h("cite", {}, ` \u2014 ${c.title}`))
            )
          )
        );
      }
      this.#refs.live.textContent = text;
    }

    /** Each sentence followed by its citation markers [n], then the list of sources. */
    #renderCited(msg, answer) {
      const citations = answer.citations || [];
      const key = (c) => `${c.source}\u0000${c.start}\u0000${c.end}`;
      const numbers = new Map(citations.map((c) => [key(c), c.n]));
      const text = h("p", { class: "text" });
      (answer.sentences || []).forEach((sentence, i) => {
        if (i > 0) text.append(document.createTextNode(" "));
        text.append(document.createTextNode(String(sentence.text)));
        for (const c of sentence.citations || []) {
          text.append(document.createTextNode("\u00a0"), this.#citeButton(c, numbers.get(key(c)) || "?"));
        }
      });
      msg.append(text);
      const titles = [...new Set(citations.map((c) => c.title + (c.page ? ` (${pageLabel(c.page)})` : "")))];
      if (titles.length) msg.append(h("p", { class: "sources" }, `Sources: ${titles.join(" \u00b7 ")}`));
      this.#refs.live.textContent = "Answer ready.";
    }

    #citeButton(citation, n) {
      const button = h(
        "button",
        { class: "cite", type: "button", "aria-label": `Show source ${n}: ${citation.title}` },
        `[${n}]`
      );
      button.addEventListener("click", () => this.#openQuote(citation, n, button));
      return button;
    }

    /** 👍 / 👎 under an answer: POST /v1/feedback {answer_id, rating, comment?}; 👎 offers an optional comment. */
    #feedback(answer) {
      if (!answer.id) return null;
      const up = h(
        "button",
        { class: "rate up", type: "button", "aria-label": "Good answer", "aria-pressed": "false" },
        "\ud83d\udc4d"
      );
      const down = h(
        "button",
        { class: "rate down", type: "button", "aria-label": "Bad answer", "aria-pressed": "false" },
        "\ud83d\udc4e"
      );
      const note = h("span", { class: "feedback-note", role: "status" });
      const box = h("div", { class: "feedback" }, h("span", { class: "feedback-label" }, "Helpful?"), up, down, note);
      const rate = async (rating, comment) => {
        up.disabled = down.disabled = true;
        (rating === "up" ? up : down).setAttribute("aria-pressed", "true");
        try {
          await this.#sendFeedback(answer.id, rating, comment);
          note.textContent = "Thanks for the feedback.";
          return true;
        } catch (error) {
          note.textContent = `Feedback not sent (${describe(error) || "no answer from the server"}).`;
          up.disabled = down.disabled = false;
          return false;
        }
      };
      up.addEventListener("click", () => rate("up", ""));
      down.addEventListener("click", () => {
        up.disabled = down.disabled = true;
        down.setAttribute("aria-pressed", "true");
        this.#askComment(box, note, (comment) => rate("down", comment));
      });
      return box;
    }

    /** The optional comment of a 👎: a field and a Send button before `note`; both go once it is sent. */
    #askComment(box, note, send) {
      const input = h("input", {
        class: "comment",
        type: "text",
        placeholder: "What was wrong? (optional)",
        "aria-label": "What was wrong with the answer (optional)"
      });
      if (Number.isInteger(this.#limits.max_comment_chars)) input.maxLength = this.#limits.max_comment_chars;
      const go = h("button", { class: "send-comment", type: "button" }, "Send");
      const submit = async () => {
        go.disabled = input.disabled = true;
        if (await send(input.value)) {
          input.remove();
          go.remove();
        }
      };
      go.addEventListener("click", submit);
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") submit();
      });
      box.insertBefore(input, note);
      box.insertBefore(go, note);
      input.focus();
    }

    async #sendFeedback(answerId, rating, comment) {
      const body = { answer_id: answerId, rating };
      if (comment) body.comment = comment;
      const response = await request(`${this.endpoint}/v1/feedback`, {
        method: "POST",
        headers: this.#headers({}),
        body: JSON.stringify(body)
      });
      if (!response.ok) throw await responseError(response);
    }

    #showError(msg, question, message) {
      this.#replaceWithRetry(msg, "msg bot error", `Something went wrong: ${message}`, question);
      msg.setAttribute("role", "alert");
      msg.querySelector(".retry").focus();
    }

    #showStopped(msg, question) {
      this.#replaceWithRetry(
        msg,
        "msg bot stopped",
        "Stopped: the chat was closed before the answer was complete.",
        question
      );
    }

    #replaceWithRetry(msg, className, text, question) {
      const retry = h("button", { class: "retry", type: "button", "aria-label": "Retry the question" }, "Retry");
      retry.addEventListener("click", () => {
        if (this.busy) return;
        msg.remove();
        this.#ask(question);
      });
      msg.className = className;
      msg.replaceChildren(h("p", { class: "error-text" }, text), retry);
    }

    #openQuote(citation, n, opener) {
      const { quote, quoteTitle, quoteText, quoteSource, quoteClose } = this.#refs;
      this.#quoteOpener = opener;
      quoteTitle.textContent = `[${n}] ${citation.title}`;
      quoteText.textContent = `\u201c${citation.quote}\u201d`;
      const page = citation.page ? ` \u00b7 ${pageLabel(citation.page)}` : "";
      quoteSource.textContent = `Source: ${citation.source}${page} \u00b7 characters ${citation.start}\u2013${citation.end}`;
      quote.hidden = false;
      quoteClose.focus();
    }

    #closeQuote(silent = false) {
      if (this.#refs.quote.hidden) return;
      this.#refs.quote.hidden = true;
      const opener = this.#quoteOpener;
      this.#quoteOpener = null;
      if (!silent && opener && opener.isConnected) opener.focus();
    }
  }

  customElements.define(TAG, RagqaWidget);

  /** The one-tag embed: mount an element carrying the tag's data-* attributes, unless the page has one already. */
  function mountFromScriptTag() {
    if (document.querySelector(TAG)) return;
    const widget = document.createElement(TAG);
    widget.id = "ragqa-widget";
    for (const name of ATTRIBUTES) {
      const value = SCRIPT.getAttribute(name);
      if (value !== null) widget.setAttribute(name, value);
    }
    document.body.append(widget);
    window.ragqaWidget = widget;
  }

  if (SCRIPT) {
    if (document.body) mountFromScriptTag();
    else document.addEventListener("DOMContentLoaded", mountFromScriptTag, { once: true });
  }
})();
