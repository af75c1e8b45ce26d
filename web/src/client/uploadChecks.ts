/** Extensions the server accepts by default (`--allowed-file-types`). */
export const DEFAULT_ALLOWED_TYPES = ['jpg', 'jpeg', 'png', 'pdf', 'doc', 'docx'];
/** The server's default `--max-file-size`: 10 MB. */
export const DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024;

/** A file refused before anything was sent, and why. */
export class FileCheckError extends Error {
  constructor(
    readonly reason: 'tooBig' | 'badType' | 'empty',
    readonly fileName: string,
  ) {
    super(reason);
    this.name = 'FileCheckError';
  }
}

/** An upload asked for while the chat is not connected (grants come over the socket). */
export class OfflineError extends Error {
  constructor() {
    super('Chat no conectado');
    this.name = 'OfflineError';
  }
}

/** Size and type checks done before anything is sent. */
export function checkFile(file: File, maxFileSize = DEFAULT_MAX_FILE_SIZE, allowed = DEFAULT_ALLOWED_TYPES): FileCheckError | null {
  const ext = file.name.includes('.') ? file.name.split('.').pop()!.toLowerCase() : '';
  if (!allowed.includes(ext)) return new FileCheckError('badType', file.name);
  if (file.size === 0) return new FileCheckError('empty', file.name);
  if (file.size > maxFileSize) return new FileCheckError('tooBig', file.name);
  return null;
}
