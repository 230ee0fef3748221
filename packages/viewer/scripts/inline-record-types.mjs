// The viewer's declarations name the collector's record types (src/types.ts imports them from
// @flowtrace/collector/types), but the collector is not a dependency of the viewer: it depends on
// the viewer, to serve its bundle. So after tsc, dist/types.d.ts is rewritten to declare those
// types itself, printed by the compiler from the collector's definitions: the same shapes, and a
// viewer installed alone type-checks.
import { writeFileSync } from 'node:fs';
import ts from 'typescript';

const file = new URL('../dist/types.d.ts', import.meta.url).pathname;
const program = ts.createProgram([file], {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
});
const checker = program.getTypeChecker();
const source = program.getSourceFile(file);
const printer = ts.createPrinter();
const FLAGS = ts.NodeBuilderFlags.NoTruncation | ts.NodeBuilderFlags.InTypeAlias | ts.NodeBuilderFlags.MultilineObjectLiterals;
const print = (type) => printer.printNode(ts.EmitHint.Unspecified, checker.typeToTypeNode(type, undefined, FLAGS), source);

const printed = [];
ts.forEachChild(source, (node) => {
  if (!ts.isExportDeclaration(node) || !node.exportClause || !ts.isNamedExports(node.exportClause)) return;
  for (const specifier of node.exportClause.elements) {
    const target = checker.getAliasedSymbol(checker.getSymbolAtLocation(specifier.name));
    const declared = checker.getDeclaredTypeOfSymbol(target);
    const doc = docComment(target, '');
    const parameters = target.declarations?.flatMap((declaration) => declaration.typeParameters ?? []).map((parameter) => parameter.name.text) ?? [];
    if (parameters.length === 0) {
      printed.push(`${doc}export type ${specifier.name.text} = ${print(declared)};`);
      continue;
    }
    // A generic interface (Page<T>): its properties, inherited ones included, with T left open.
    const members = checker.getPropertiesOfType(declared).map((property) => {
      const optional = property.flags & ts.SymbolFlags.Optional ? '?' : '';
      return `${docComment(property, '    ')}    ${property.name}${optional}: ${print(checker.getTypeOfSymbol(property))};`;
    });
    printed.push(`${doc}export interface ${specifier.name.text}<${parameters.join(', ')}> {\n${members.join('\n')}\n}`);
  }
});
if (printed.length === 0) throw new Error(`${file}: no re-exported types found to inline`);

function docComment(symbol, indent) {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker));
  return text ? `${indent}/** ${text.replace(/\n/g, `\n${indent} * `)} */\n` : '';
}

const header = '/** The collector\'s data model (@flowtrace/collector/types), printed here by the build: the viewer and collector meet on the wire. */\n';
writeFileSync(file, `${header}${printed.join('\n')}\nexport {};\n`);
