import { Type } from '@sinclair/typebox';

/** Shared leaf schemas. Times on the wire are ISO 8601 strings; durations are milliseconds. */

export const IsoTime = Type.String({ format: 'date-time' });
export const Millis = Type.Number({ minimum: 0 });
export const Count = Type.Integer({ minimum: 0 });
