"""The code every sandboxed kernel runs once at start (as one silent cell, before any of the
model's), with ``__HEAD__``, ``__TAIL__``, ``__FIGURES__`` and ``__STRAY__`` filled in by the host.

It runs inside the sandbox: nothing it sends back is trusted more than the model's own output
(the host caps text again and checks every PNG).
"""

from __future__ import annotations

STRAY_NOTE = "output of threads started by earlier cells"

# Installed in every kernel. (1) Output belongs to the cell that caused it: a thread runs in a
# copy of the context of the cell that started it, work given to a thread pool in that of the
# cell that submitted it, and ipykernel labels output with the request (``parent_header``) found
# there. Output labelled with an earlier cell (a background thread still printing) is dropped
# here and counted, so it neither crosses the socket nor shows up in a later cell's result.
# (2) stdout/stderr are capped per cell *inside* the kernel (head + tail), so a 50 MB print
# never crosses the socket; the host caps again while collecting.
# (3) Figures whatever the backend: the inline backend shows and closes its figures at the end
# of a cell, but after ``matplotlib.use("Agg")`` (or pdf, svg...) ``plt.show()`` shows nothing.
# After each cell, every pyplot figure still open that was not displayed as an image is sent
# as PNG display data (at most the per-call figure cap; the rest are only counted), then all
# are closed. A figure the cell displayed itself (``display(fig)``, ``fig`` as its value) is
# closed first, so neither this step nor the inline backend's sends it again. The host checks
# these PNGs like any other (size caps, decoding).
SETUP = r"""
def _agentkit_figures(limit):
    import sys
    ip = get_ipython()
    format = ip.display_formatter.format
    def format_and_mark(obj, *args, **kwargs):
        data, md = format(obj, *args, **kwargs)
        if type(obj).__module__.startswith("matplotlib.") and any(k.startswith("image/") for k in data):
            try:
                obj._agentkit_shown = True
            except Exception:
                pass
        return data, md
    ip.display_formatter.format = format_and_mark
    def close_shown(*_):
        # before the inline backend's own end-of-cell flush, which would show them again
        plt = sys.modules.get("matplotlib.pyplot")
        inline = sys.modules.get("matplotlib_inline.backend_inline")
        if plt is None or (inline is not None and not inline.InlineBackend.instance().close_figures):
            return
        try:
            from matplotlib._pylab_helpers import Gcf
            for m in list(Gcf.get_all_fig_managers()):
                if getattr(m.canvas.figure, "_agentkit_shown", False):
                    plt.close(m.canvas.figure)
        except Exception:
            pass
    def capture(*_):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        try:
            import matplotlib
            from matplotlib._pylab_helpers import Gcf
            if "inline" in str(matplotlib.get_backend()).lower():
                return
            figures = [m.canvas.figure for m in Gcf.get_all_fig_managers()]
        except Exception:
            return
        if not figures:
            return
        import base64, io
        from IPython.display import publish_display_data
        sent = skipped = 0
        for fig in figures:
            if getattr(fig, "_agentkit_shown", False):
                continue
            if sent >= limit:
                skipped += 1
                continue
            try:
                buf = io.BytesIO()
                fig.savefig(buf, format="png")
                png = base64.b64encode(buf.getvalue()).decode("ascii")
                publish_display_data({"image/png": png, "text/plain": repr(fig)})
                sent += 1
            except Exception as exc:
                sys.stderr.write("[a figure could not be rendered: %s: %s]\n" % (type(exc).__name__, exc))
        try:
            plt.close("all")
        except Exception:
            pass
        if skipped:
            sys.stderr.write("[%d more figure(s) not saved (limit %d per call).]\n" % (skipped, limit))
    ip.events.register("post_execute", close_shown)
    ip.events.register("post_run_cell", capture)
_agentkit_figures(__FIGURES__)
del _agentkit_figures

def _agentkit_setup(head, tail):
    import contextvars, sys, threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    lock = threading.RLock()
    st = {"cell": None, "used": 0, "omitted": 0, "tail": deque(), "tail_len": 0, "stray": 0}

    start = threading.Thread.start
    def start_in_context(self):
        ctx = contextvars.copy_context()
        run = self.run
        self.run = lambda: ctx.run(run)
        return start(self)
    threading.Thread.start = start_in_context
    submit = ThreadPoolExecutor.submit
    def submit_in_context(self, fn, /, *args, **kwargs):
        return submit(self, contextvars.copy_context().run, fn, *args, **kwargs)
    ThreadPoolExecutor.submit = submit_in_context

    def parent(stream):
        try:
            return stream.parent_header.get("msg_id")
        except Exception:
            return None
    def reset(*_):
        with lock:
            st["cell"] = parent(sys.stdout)
            st["used"] = 0
            st["omitted"] = 0
            st["tail"] = deque()
            st["tail_len"] = 0
            st["stray"] = 0
    def wrap(stream):
        orig = stream.write
        def write(s):
            if not isinstance(s, str):
                return orig(s)
            n = len(s)
            with lock:
                if st["cell"] is not None and parent(stream) != st["cell"]:
                    st["stray"] += n
                    return n
                if not st["tail"] and st["used"] + n <= head:
                    st["used"] += n
                    return orig(s)
                room = head - st["used"]
                if room > 0 and not st["tail"]:
                    orig(s[:room])
                    st["used"] = head
                    s = s[room:]
                keep = s[-tail:]
                st["omitted"] += len(s) - len(keep)
                st["tail"].append((orig, keep))
                st["tail_len"] += len(keep)
                while st["tail_len"] > tail:
                    w, first = st["tail"][0]
                    extra = st["tail_len"] - tail
                    if len(first) <= extra:
                        st["tail"].popleft()
                        st["tail_len"] -= len(first)
                        st["omitted"] += len(first)
                    else:
                        st["tail"][0] = (w, first[extra:])
                        st["tail_len"] -= extra
                        st["omitted"] += extra
                return n
        stream.write = write
        return orig
    out = wrap(sys.stdout)
    wrap(sys.stderr)
    def flush(*_):
        with lock:
            if st["omitted"]:
                out("\n…[%d characters omitted]…\n" % st["omitted"])
            pieces = list(st["tail"])
            stray = st["stray"]
            st["omitted"] = st["tail_len"] = st["stray"] = 0
            st["tail"] = deque()
            for w, piece in pieces:
                w(piece)
            if stray:
                out("\n…[%d characters of __STRAY__ left out]…\n" % stray)
    ip = get_ipython()
    ip.events.register("pre_run_cell", reset)
    ip.events.register("post_run_cell", flush)
_agentkit_setup(__HEAD__, __TAIL__)
del _agentkit_setup
"""
