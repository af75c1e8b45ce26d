import type { Attachment } from '../../client/types';
import { useI18n } from '../../i18n';

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export interface FileAttachmentProps {
  file: Attachment;
  /** Turns a download URL into one the browser may fetch (adds `?token=`). */
  fileUrl?: (url: string) => string;
}

/** An attachment: image thumbnail (when the server made one) and a download link. */
export function FileAttachment({ file, fileUrl = (u) => u }: FileAttachmentProps) {
  const { t } = useI18n();
  const href = fileUrl(file.url);
  const safe = /^https?:\/\//i.test(href) || href.startsWith('/');
  return (
    <div className="sp-attachment" data-testid="attachment">
      {file.thumbnail_url && (
        <a href={safe ? href : undefined} target="_blank" rel="noopener noreferrer" className="sp-thumb-link">
          <img className="sp-thumb" src={fileUrl(file.thumbnail_url)} alt={t('file.preview', { nombre: file.nombre })} loading="lazy" />
        </a>
      )}
      <a
        className="sp-file-link"
        href={safe ? href : undefined}
        download={file.nombre}
        target="_blank"
        rel="noopener noreferrer"
        aria-label={t('file.download', { nombre: file.nombre })}
      >
        <span aria-hidden="true">{file.tipo_mime.startsWith('image/') ? '🖼️' : '📄'}</span> {file.nombre}{' '}
        <span className="sp-file-size">({formatSize(file.tamaño)})</span>
      </a>
    </div>
  );
}

export default FileAttachment;
