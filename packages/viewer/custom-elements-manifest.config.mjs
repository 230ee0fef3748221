/**
 * The Custom Elements Manifest that editors and Storybook read (`customElements` in package.json).
 * It is analysed from the sources, which carry the types and docs, but must name the modules that
 * ship: `src/x.ts` becomes `dist/x.js` everywhere in it.
 */
const shipped = (path) => path.replace(/^src\/(.*)\.ts$/, 'dist/$1.js');

function rewrite(node) {
  if (Array.isArray(node)) return node.forEach(rewrite);
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'path' || key === 'module') && typeof value === 'string') node[key] = shipped(value);
    else rewrite(value);
  }
}

export default {
  globs: ['src/**/*.ts'],
  outdir: 'dist',
  litelement: true,
  plugins: [{ name: 'flowtrace-shipped-paths', packageLinkPhase: ({ customElementsManifest }) => rewrite(customElementsManifest) }],
};
