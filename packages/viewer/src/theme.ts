import { css } from 'lit';

/**
 * The design tokens every element reads, each a CSS custom property a host page can set on the
 * usage tab (they inherit through shadow roots).
 */
export const theme = css`
  :host {
    font-family: var(--flowtrace-font, system-ui, -apple-system, 'Segoe UI', sans-serif);
    font-size: var(--flowtrace-font-size, 14px);
    color: var(--flowtrace-fg, #1d2330);
    --_bg: var(--flowtrace-bg, #ffffff);
    --_muted: var(--flowtrace-muted, #5f6b7a);
    --_border: var(--flowtrace-border, #dde2e8);
    --_accent: var(--flowtrace-accent, #2f6fde);
    --_surface: var(--flowtrace-surface, #f5f7fa);
    --_selected: var(--flowtrace-selected, #e8f0fe);
    --_radius: var(--flowtrace-radius, 6px);
    /* Error text is darker than the error colour of dots and borders: it must stay readable (4.5:1). */
    --_error-text: var(--flowtrace-error-text, #b42318);
    --_mono: var(--flowtrace-mono, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace);
  }
  [hidden] {
    display: none !important;
  }
  button {
    font: inherit;
    color: inherit;
    cursor: pointer;
  }
  :focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 2px;
  }
`;
