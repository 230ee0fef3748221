import { Type, type Static } from '@sinclair/typebox';

/** Every error answer: a stable code for programs, a sentence for people. */
export const Problem = Type.Object(
  { error: Type.String({ description: 'bad_request, not_found, …' }), message: Type.String() },
  { title: 'Problem' },
);
export type Problem = Static<typeof Problem>;
