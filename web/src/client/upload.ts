/** Progress of one upload, in bytes and percent (0-100). */
export interface UploadProgress {
  loaded: number;
  total: number;
  percent: number;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export interface XhrUploadOptions {
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
}

/**
 * POSTs `file` as multipart/form-data (field `file`) with XMLHttpRequest, the
 * only browser API that reports upload progress (`fetch` has none: seed defect
 * D3). The browser writes the multipart `Content-Type` with its boundary, so a
 * `Content-Type` among `headers` is dropped.
 */
export function xhrUpload<T = unknown>(url: string, file: Blob, options: XhrUploadOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (name.toLowerCase() === 'content-type') continue;
      xhr.setRequestHeader(name, value);
    }
    xhr.responseType = 'text';
    xhr.upload.onprogress = (event) => {
      if (!options.onProgress) return;
      const total = event.lengthComputable ? event.total : file.size;
      options.onProgress({
        loaded: event.loaded,
        total,
        percent: total > 0 ? Math.min(100, Math.round((event.loaded / total) * 100)) : 0,
      });
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        options.onProgress?.({ loaded: file.size, total: file.size, percent: 100 });
        resolve(body as T);
      } else {
        const detalle = typeof body === 'object' && body !== null && 'detalle' in body && typeof body.detalle === 'string' ? body.detalle : null;
        reject(new UploadError(detalle ?? `Error ${xhr.status} al subir el archivo`, xhr.status));
      }
    };
    xhr.onerror = () => reject(new UploadError('Error de red al subir el archivo', 0));
    xhr.onabort = () => reject(new UploadError('Subida cancelada', 0));
    if (options.signal) {
      if (options.signal.aborted) return xhr.abort();
      options.signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    const form = new FormData();
    for (const [name, value] of Object.entries(options.fields ?? {})) form.append(name, value);
    form.append('file', file, (file as File).name ?? 'archivo');
    xhr.send(form);
  });
}
