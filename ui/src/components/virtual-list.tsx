/**
 * A virtualised list of fixed-height rows: only the rows in view (plus a few) are in the DOM, so a list of
 * 100,000 lines costs what 40 do. Keyboard: it is one listbox (Tab to it), arrows, Page Up/Down, Home and End
 * move the selection. It sticks to the bottom while the view is there (a live tail), until the user scrolls up.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  /** The row's content (the list makes its box). */
  row(i: number): ComponentChildren;
  rowLabel?(i: number): string;
  selected: number | undefined;
  onSelect(i: number): void;
  label: string;
  id: string;
  /** Follow the end as rows are added (while scrolled to the bottom). */
  follow?: boolean;
}

const OVERSCAN = 8;

export function VirtualList(p: VirtualListProps) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(400);
  const atEnd = useRef(true);
  const frame = useRef<number | undefined>(undefined);

  useLayoutEffect(() => {
    const el = box.current;
    if (el === null) return undefined;
    setHeight(el.clientHeight);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // while following, the view is the end: drawn from the count, then scrolled there (one render per frame)
  const following = p.follow === true && atEnd.current;
  const end = Math.max(0, p.count * p.rowHeight - height);
  useLayoutEffect(() => {
    const el = box.current;
    if (el === null || !following) return;
    if (Math.abs(el.scrollTop - end) > 1) el.scrollTop = end;
  }, [following, end]);

  useEffect(() => () => { if (frame.current !== undefined) cancelAnimationFrame(frame.current); }, []);

  const onScroll = (): void => {
    const el = box.current;
    if (el === null) return;
    const was = atEnd.current;
    atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - p.rowHeight;
    if (p.follow === true && was && atEnd.current) return; // following: the end is drawn from the count
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(() => { frame.current = undefined; setTop(el.scrollTop); });
  };

  const move = (to: number): void => {
    if (p.count === 0) return;
    const i = Math.max(0, Math.min(p.count - 1, to));
    p.onSelect(i);
    const el = box.current;
    if (el === null) return;
    const y = i * p.rowHeight;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + p.rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = y + p.rowHeight - el.clientHeight;
    atEnd.current = i === p.count - 1;
  };

  const onKey = (e: KeyboardEvent): void => {
    const page = Math.max(1, Math.floor(height / p.rowHeight) - 1);
    const cur = p.selected ?? -1;
    const keys: Record<string, () => void> = {
      ArrowDown: () => move(cur + 1),
      ArrowUp: () => move(cur < 0 ? p.count - 1 : cur - 1),
      PageDown: () => move(cur + page),
      PageUp: () => move(cur - page),
      Home: () => move(0),
      End: () => move(p.count - 1),
    };
    const fn = keys[e.key];
    if (fn !== undefined) { e.preventDefault(); fn(); }
  };

  const viewTop = following ? end : top;
  const first = Math.max(0, Math.floor(viewTop / p.rowHeight) - OVERSCAN);
  const last = Math.min(p.count, Math.ceil((viewTop + height) / p.rowHeight) + OVERSCAN);
  const rows = [];
  for (let i = first; i < last; i++) {
    const sel = i === p.selected;
    rows.push(
      <div
        key={i}
        id={`${p.id}-row-${i}`}
        role="option"
        aria-selected={sel}
        aria-label={p.rowLabel?.(i)}
        class={`vrow${sel ? ' vrow-selected' : ''}`}
        style={{ transform: `translateY(${i * p.rowHeight}px)`, height: `${p.rowHeight}px` }}
        onClick={() => p.onSelect(i)}
      >
        {p.row(i)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      id={p.id}
      class="vlist"
      role="listbox"
      aria-label={p.label}
      tabIndex={0}
      aria-activedescendant={p.selected === undefined ? undefined : `${p.id}-row-${p.selected}`}
      onScroll={onScroll}
      onKeyDown={onKey}
    >
      <div class="vlist-inner" style={{ height: `${p.count * p.rowHeight}px` }}>{rows}</div>
    </div>
  );
}
