/* FashionM3 web chat: plain JavaScript, no build step.
 *
 * Talks to the service's /v1 API: POST /v1/threads/{id}/turns (streamed as Server-Sent Events, read
 * with fetch because EventSource cannot POST), POST /v1/media for photos and GET /v1/threads/{id} to
 * restore a conversation. The thread id lives in the URL (?thread=...), the user id and the API key
 * (asked for on a 401) in localStorage.
 */
"use strict";

(() => {
  const MAX_IMAGES = 4;
  const THREAD_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
  const STORE_USER = "fashionm3.userId";
  const STORE_KEY = "fashionm3.apiKey";
  /** What each tool is doing while it runs, and what it did once done. */
  const TOOLS = {
    search_catalog: ["Searching the catalog…", "Searched the catalog"],
    recommend_outfit: ["Putting an outfit together…", "Put an outfit together"],
    find_alternatives: ["Looking for alternatives…", "Looked for alternatives"],
    generate_image: ["Drawing a design…", "Drew a design"],
    virtual_try_on: ["Trying it on your photo…", "Tried it on your photo"],
    recall_outfit: ["Looking back through our chat…", "Looked back through our chat"],
  };
  const euro = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

  const $ = (id) => document.getElementById(id);
  const ui = {
    conversation: $("conversation"),
    messages: $("messages"),
    welcome: $("welcome"),
    form: $("composer"),
    input: $("message"),
    send: $("send"),
    attach: $("attach"),
    fileInput: $("file-input"),
    attachments: $("attachments"),
    newChat: $("new-chat"),
    threadLabel: $("thread-label"),
    dropOverlay: $("drop-overlay"),
  };

  // ---------------------------------------------------------------- small helpers

  const storage = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { window.localStorage.setItem(key, value); } catch { /* private mode: keep it in memory only */ }
    },
  };

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf); // unlike crypto.randomUUID, also available on plain http
    return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Create an element: el("p", {className: "x", dataset: {a: 1}}, child, "text"). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") node.style.cssText = value;
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatPrice(value) {
    const n = Number(value);
    return Number.isFinite(n) ? euro.format(n) : "";
  }

  function formatSeconds(seconds) {
    if (seconds < 1) return `${Math.max(1, Math.round(seconds * 1000))} ms`;
    return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
  }

  function humanize(word) {
    return String(word || "").replace(/_/g, " ");
  }

  function capitalize(word) {
    const s = humanize(word);
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function swatchColor(name) {
    const color = String(name || "").toLowerCase();
    return window.CSS && CSS.supports("color", color) ? color : "#bbb";
  }

  function nearBottom() {
    const c = ui.conversation;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 160;
  }

  // Follow the conversation's end (as messages arrive and their images load) unless the reader scrolled up.
  let stickToBottom = true;
  ui.conversation.addEventListener("scroll", () => { stickToBottom = nearBottom(); }, { passive: true });
  ui.messages.addEventListener("load", (event) => {
    if (event.target.tagName === "IMG") scrollDown();
  }, true);

  function scrollDown(force = false) {
    if (force) stickToBottom = true;
    if (stickToBottom) ui.conversation.scrollTop = ui.conversation.scrollHeight;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---------------------------------------------------------------- identity: user, thread, key

  function userId() {
    let id = storage.get(STORE_USER);
    if (!id) {
      id = `web-${randomHex(4)}`;
      storage.set(STORE_USER, id);
    }
    return id;
  }

  function newThreadId() {
    return `web-${Date.now().toString(36)}-${randomHex(4)}`;
  }

  /** The thread id from ?thread=..., or a fresh one written into the URL: [id, isNew]. */
  function threadFromUrl() {
    const params = new URLSearchParams(window.location.search);
    const id = params.get("thread");
    if (id && THREAD_RE.test(id)) return [id, false];
    const fresh = newThreadId();
    params.set("thread", fresh);
    window.history.replaceState(null, "", `${window.location.pathname}?${params}`);
    return [fresh, true];
  }

  const state = {
    user: userId(),
    thread: null,
    attachments: [],
    busy: false,
    generation: 0, // bumped by "New chat" so a late restore does not draw into the new thread
  };

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorFrom(response) {
    let code = `http_${response.status}`;
    let message = `The service answered ${response.status} ${response.statusText}.`;
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch { /* not JSON: keep the status line */ }
    return new ApiError(response.status, code, message);
  }

  /** fetch() a /v1 route with the API key; on a 401 ask for a key, keep it and retry. */
  async function api(path, options = {}, attempt = 0) {
    const headers = new Headers(options.headers || {});
    const key = storage.get(STORE_KEY);
    if (key) headers.set("Authorization", `Bearer ${key}`);
    let response;
    try {
      response = await fetch(path, { ...options, headers });
    } catch {
      throw new ApiError(0, "network", "Could not reach the service. Check that it is running, then try again.");
    }
    if (response.status === 401 && attempt < 3) {
      const entered = window.prompt(key
        ? "That API key was not accepted. Enter a valid key:"
        : "This service needs an API key. Enter it:");
      if (entered && entered.trim()) {
        storage.set(STORE_KEY, entered.trim());
        return api(path, options, attempt + 1);
      }
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  const threadPath = (thread) => `/v1/threads/${encodeURIComponent(thread)}`;

  /** Read a text/event-stream body and call onEvent(name, data) for each event. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue; // a comment: keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let payload;
      try { payload = JSON.parse(data.join("\n")); } catch { payload = { text: data.join("\n") }; }
      onEvent(name, payload);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        flush(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    if (buffer.trim()) flush(buffer);
  }

  /** Wait for a turn's answer (after a 202 or a dropped stream). */
  async function pollTurn(thread, turnId) {
    for (let tries = 0; tries < 20; tries++) {
      const response = await api(`${threadPath(thread)}/turns/${encodeURIComponent(turnId)}?wait=30`);
      if (response.status === 200) return response.json();
      await sleep(500);
    }
    throw new ApiError(504, "timeout", "The answer is taking too long. Reload the page later to see it.");
  }

  // ---------------------------------------------------------------- rendering

  /** The reply text without the item lines ("1. Title — red, €9.99 [TOP-0001]") the cards show. */
  function replyText(response) {
    let text = String(response.text || "");
    text = text.replace(/\s*\S*\b[0-9a-f]{64}\.png/g, ""); // server file paths of the images shown below
    if ((response.items || []).length) {
      text = text.split("\n").filter((line) => !/\[[A-Za-z0-9][A-Za-z0-9_.-]*\]\s*$/.test(line)).join("\n");
    }
    return text.trim();
  }

  function itemCard(item, index) {
    const stock = Number(item.stock);
    return el("article", {
      className: "item-card",
      dataset: { itemId: item.id, price: item.price },
      title: `${item.title} (${item.id})`,
    },
    el("div", { className: "item-image" },
      item.image
        ? el("img", { src: item.image, alt: item.title || item.id, decoding: "async" })
        : el("span", { className: "item-no-image" }, "No photo"),
      el("span", { className: "item-index", title: `Say "the ${ordinal(index)} one"` }, String(index + 1))),
    el("div", { className: "item-info" },
      el("h3", { className: "item-title" }, item.title || item.id),
      el("p", { className: "item-meta" },
        el("span", { className: "swatch", style: `background:${swatchColor(item.color)}` }),
        `${capitalize(item.color)} · ${humanize(item.category)}`),
      el("p", { className: "item-bottom" },
        el("span", { className: "item-price" }, formatPrice(item.price)),
        Number.isFinite(stock) && stock > 0 && stock <= 5 ? el("span", { className: "item-stock" }, `Only ${stock} left`) : null,
        Number.isFinite(stock) && stock === 0 ? el("span", { className: "item-stock out" }, "Out of stock") : null)));
  }

  function ordinal(index) {
    return ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"][index] || `#${index + 1}`;
  }

  function itemsBlock(items, isOutfit) {
    const grid = el("div", { className: "item-grid" }, ...items.map(itemCard));
    if (!isOutfit) return el("div", { className: "items" }, grid);
    const total = items.reduce((sum, item) => sum + (Number(item.price) || 0), 0);
    return el("section", { className: "outfit", "aria-label": "Outfit" },
      el("header", { className: "outfit-header" },
        el("span", { className: "outfit-label" }, "Outfit"),
        el("span", { className: "outfit-total" },
          `${items.length} piece${items.length === 1 ? "" : "s"} · total `, el("strong", {}, formatPrice(total)))),
      grid);
  }

  function imagesBlock(urls, caption) {
    return el("div", { className: "generated" }, ...urls.map((url) => el("figure", {},
      el("a", { href: url, target: "_blank", rel: "noopener" }, el("img", { src: url, alt: caption })),
      el("figcaption", {}, caption))));
  }

  function imageCaption(intentOrKind) {
    return /try/.test(String(intentOrKind || "")) ? "Try-on" : "Design";
  }

  function errorBox(code, message) {
    const hint = code === "thread_owner"
      ? "This conversation belongs to another user id. Press “New chat” to start your own."
      : null;
    return el("div", { className: "error-box", role: "alert" },
      el("strong", {}, "Something went wrong"),
      el("p", {}, message || "The service gave no details."),
      hint ? el("p", { className: "error-hint" }, hint) : null,
      code ? el("code", {}, code) : null);
  }

  function addUserMessage(text, imageUrls) {
    hideWelcome();
    const li = el("li", { className: "msg user" },
      imageUrls.length ? el("div", { className: "user-photos" },
        ...imageUrls.map((url) => el("img", { src: url, alt: "Attached photo" }))) : null,
      text ? el("div", { className: "bubble" }, text) : null);
    ui.messages.append(li);
    scrollDown(true);
    return li;
  }

  /** One answer of the assistant: progress lines while it runs, then text, cards and images. */
  class AssistantTurn {
    constructor() {
      this.turnId = null;
      this.finished = false;
      this.progress = el("ol", { className: "progress" });
      this.body = el("div", { className: "answer" });
      this.node = el("li", { className: "msg assistant pending" },
        el("div", { className: "avatar", "aria-hidden": "true" }, "M3"),
        el("div", { className: "content" }, this.progress, this.body));
      ui.messages.append(this.node);
      scrollDown(true);
    }

    step(text, status = "running", detail = "") {
      const line = el("li", { className: `step ${status}` },
        el("span", { className: "step-icon", "aria-hidden": "true" }),
        el("span", { className: "step-text" }, text),
        detail ? el("span", { className: "step-detail" }, detail) : null);
      this.progress.append(line);
      scrollDown();
      return line;
    }

    settle(line, ok, text, detail) {
      if (!line) return;
      line.className = `step ${ok ? "ok" : "failed"}`;
      if (text) line.querySelector(".step-text").textContent = text;
      if (detail) line.append(el("span", { className: "step-detail" }, detail));
    }

    /** Handle one Server-Sent Event of the turn. */
    onEvent(name, data) {
      if (this.finished) return;
      switch (name) {
        case "accepted":
          this.turnId = data.turn_id;
          this.node.dataset.turnId = data.turn_id;
          this.planning = this.step("Planning…");
          break;
        case "plan":
          if (this.planning) this.settle(this.planning, true, "Planned");
          else if ((data.calls || []).length) this.step("Planned the next step", "ok");
          this.planning = null;
          break;
        case "tool_start": {
          const labels = TOOLS[data.tool] || [`Running ${humanize(data.tool)}…`, humanize(data.tool)];
          this.running = this.running || {};
          this.running[data.tool] = this.step(labels[0]);
          break;
        }
        case "tool_end": {
          const labels = TOOLS[data.tool] || [null, capitalize(data.tool)];
          const line = this.running && this.running[data.tool];
          if (line) this.settle(line, data.ok !== false, labels[1], data.ok === false ? data.message : "");
          if (this.running) delete this.running[data.tool];
          break;
        }
        case "items":
          if ((data.items || []).length) this.body.append(itemsBlock(data.items, !!data.is_outfit));
          scrollDown();
          break;
        case "image":
          if (data.url) this.body.append(imagesBlock([data.url], imageCaption(data.kind)));
          scrollDown();
          break;
        case "final":
          this.finish(data.response || {});
          break;
        case "error":
          this.fail(data.error || {});
          break;
        default:
          break;
      }
    }

    /** Draw the final answer (also used to restore a conversation). */
    finish(response) {
      this.finished = true;
      if (response.turn_id) this.node.dataset.turnId = response.turn_id;
      this.node.classList.remove("pending");
      this.node.classList.add("done");
      this.node.dataset.intent = response.intent || "";
      this.progress.remove();
      this.body.replaceChildren();
      const text = replyText(response);
      if (text) this.body.append(el("div", { className: "bubble" }, text));
      const items = response.items || [];
      if (items.length) this.body.append(itemsBlock(items, !!response.is_outfit));
      const images = (response.images || []).filter(Boolean);
      if (images.length) this.body.append(imagesBlock(images, imageCaption(response.intent)));
      for (const problem of response.errors || []) {
        this.body.append(el("p", { className: "note-error" }, String(problem)));
      }
      const tools = (response.tools || []).map((t) => (TOOLS[t] || [null, capitalize(t)])[1]);
      const seconds = Number(response.seconds);
      const meta = [...new Set(tools)];
      if (Number.isFinite(seconds) && seconds > 0) meta.push(formatSeconds(seconds));
      if (meta.length) this.body.append(el("p", { className: "meta" }, meta.join(" · ")));
      scrollDown();
    }

    fail(error) {
      this.finished = true;
      this.node.classList.remove("pending");
      this.node.classList.add("done", "failed");
      this.progress.remove();
      this.body.replaceChildren(errorBox(error.code, error.message));
      scrollDown();
    }
  }

  function hideWelcome() {
    ui.welcome.hidden = true;
  }

  function showWelcome() {
    ui.welcome.hidden = ui.messages.children.length > 0;
  }

  // ---------------------------------------------------------------- sending a message

  function setBusy(busy) {
    state.busy = busy;
    ui.send.disabled = busy;
    ui.form.classList.toggle("busy", busy);
    ui.send.textContent = busy ? "Working…" : "Send";
  }

  async function send(rawText) {
    const text = String(rawText || "").trim();
    if (state.busy) return;
    const pending = state.attachments.filter((a) => a.status === "uploading");
    if (!text && !state.attachments.some((a) => a.status !== "failed")) return;
    setBusy(true);
    const thread = state.thread;
    try {
      await Promise.all(pending.map((a) => a.upload));
      const photos = state.attachments.filter((a) => a.status === "ready");
      if (!text && !photos.length) return;
      addUserMessage(text, photos.map((a) => a.url || a.preview));
      clearComposer();
      const turn = new AssistantTurn();
      try {
        const response = await api(`${threadPath(thread)}/turns`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Accept: "text/event-stream",
            "Idempotency-Key": `web-${randomHex(12)}`,
          },
          body: JSON.stringify({ user_id: state.user, text, images: photos.map((a) => ({ media_id: a.mediaId })) }),
        });
        if ((response.headers.get("Content-Type") || "").includes("text/event-stream")) {
          await readEvents(response, (name, data) => turn.onEvent(name, data));
          if (!turn.finished && turn.turnId) turn.finish(await pollTurn(thread, turn.turnId));
          if (!turn.finished) turn.fail({ code: "stream_ended", message: "The answer stopped half-way; reload the page to see it." });
        } else {
          const body = await response.json();
          if (response.status === 202) turn.finish(await pollTurn(thread, body.turn_id));
          else turn.finish(body);
        }
      } catch (err) {
        turn.fail({ code: err.code || "error", message: err.message });
      }
    } finally {
      setBusy(false);
      ui.input.focus();
    }
  }

  function clearComposer() {
    ui.input.value = "";
    autosize();
    for (const a of state.attachments) if (a.preview) URL.revokeObjectURL(a.preview);
    state.attachments = [];
    renderAttachments();
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 180)}px`;
  }

  // ---------------------------------------------------------------- photos: button, paste, drag and drop

  function addFiles(fileList) {
    const files = Array.from(fileList || []).filter(Boolean); // the service says which files it cannot read
    for (const file of files) {
      if (state.attachments.length >= MAX_IMAGES) {
        window.alert(`At most ${MAX_IMAGES} photos per message.`);
        break;
      }
      const attachment = { file, preview: URL.createObjectURL(file), status: "uploading", mediaId: null, url: null };
      attachment.upload = uploadPhoto(attachment);
      state.attachments.push(attachment);
    }
    renderAttachments();
  }

  async function uploadPhoto(attachment) {
    const form = new FormData();
    form.append("file", attachment.file, attachment.file.name || "photo.png");
    try {
      const response = await api("/v1/media", { method: "POST", body: form });
      const body = await response.json();
      attachment.mediaId = body.media_id;
      attachment.url = body.url;
      attachment.status = "ready";
    } catch (err) {
      attachment.status = "failed";
      attachment.error = err.message;
    }
    renderAttachments();
  }

  function renderAttachments() {
    ui.attachments.hidden = state.attachments.length === 0;
    ui.attachments.replaceChildren(...state.attachments.map((a) => {
      const remove = el("button", { type: "button", className: "chip-remove", title: "Remove", "aria-label": "Remove photo" }, "×");
      remove.addEventListener("click", () => {
        state.attachments = state.attachments.filter((x) => x !== a);
        if (a.preview) URL.revokeObjectURL(a.preview);
        renderAttachments();
      });
      const label = a.status === "uploading" ? "Uploading…" : a.status === "failed" ? a.error : a.file.name || "Photo";
      const thumb = el("img", { src: a.preview, alt: "" });
      thumb.addEventListener("error", () => thumb.replaceWith(el("span", { className: "chip-icon" }, "!")));
      return el("div", { className: `chip ${a.status}`, title: label, dataset: { mediaId: a.mediaId || "" } },
        thumb,
        el("span", { className: "chip-label" }, label),
        remove);
    }));
  }

  function setupPhotos() {
    ui.attach.addEventListener("click", () => ui.fileInput.click());
    ui.fileInput.addEventListener("change", () => {
      addFiles(ui.fileInput.files);
      ui.fileInput.value = "";
    });
    document.addEventListener("paste", (event) => {
      const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
      if (files.some((f) => f.type.startsWith("image/"))) {
        event.preventDefault();
        addFiles(files);
      }
    });
    let depth = 0;
    const hasFiles = (event) => Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes("Files");
    window.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      depth += 1;
      ui.dropOverlay.hidden = false;
    });
    window.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) ui.dropOverlay.hidden = true;
    });
    window.addEventListener("dragover", (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
    window.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      ui.dropOverlay.hidden = true;
      addFiles(event.dataTransfer.files);
    });
  }

  // ---------------------------------------------------------------- threads: restore, new chat

  function notice(text) {
    ui.messages.append(el("li", { className: "msg notice" }, text));
  }

  async function restore(thread) {
    const generation = state.generation;
    let data;
    try {
      data = await (await api(threadPath(thread))).json();
    } catch (err) {
      if (generation !== state.generation) return;
      if (err.status !== 404) {
        const turn = new AssistantTurn();
        turn.fail({ code: err.code, message: `Could not load this conversation: ${err.message}` });
      }
      showWelcome();
      return;
    }
    if (generation !== state.generation) return;
    if (data.user_id && data.user_id !== state.user) {
      notice("This conversation was started by another user id, so it is read-only here. Press “New chat” to start your own.");
    }
    const waiting = [];
    for (const t of data.turns || []) {
      addUserMessage(t.text, (t.media_ids || []).map((m) => `/v1/media/${m}.png`));
      const turn = new AssistantTurn();
      turn.node.dataset.turnId = t.turn_id;
      if (t.status === "done" && t.response) turn.finish(t.response);
      else if (t.status === "failed") turn.fail(t.error || {});
      else {
        turn.step(t.status === "queued" ? "Waiting in line…" : "Still working on it…");
        waiting.push([turn, t.turn_id]);
      }
    }
    showWelcome();
    scrollDown(true);
    for (const [turn, turnId] of waiting) {
      pollTurn(thread, turnId).then((r) => turn.finish(r), (err) => turn.fail({ code: err.code, message: err.message }));
    }
  }

  /** Show a thread: restore its turns, or the welcome screen for a thread made here just now. */
  function openThread(thread, isNew = false) {
    state.generation += 1;
    state.thread = thread;
    ui.threadLabel.textContent = thread;
    ui.messages.replaceChildren();
    ui.welcome.hidden = true;
    if (isNew) {
      showWelcome();
      return Promise.resolve();
    }
    return restore(thread);
  }

  function newChat() {
    if (state.busy) return;
    const thread = newThreadId();
    const params = new URLSearchParams(window.location.search);
    params.set("thread", thread);
    window.history.pushState(null, "", `${window.location.pathname}?${params}`);
    clearComposer();
    openThread(thread, true);
    ui.input.focus();
  }

  // ---------------------------------------------------------------- wiring

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(ui.input.value);
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(ui.input.value);
    }
  });
  ui.input.addEventListener("input", autosize);
  ui.newChat.addEventListener("click", newChat);
  for (const button of document.querySelectorAll(".suggestion")) {
    button.addEventListener("click", () => send(button.textContent));
  }
  window.addEventListener("popstate", () => openThread(...threadFromUrl()));
  setupPhotos();
  openThread(...threadFromUrl());
  ui.input.focus();
})();
