import { createContext, useContext, useMemo, type ReactNode } from 'react';

/** A BCP 47 tag. Spanish and English are built in; any other takes its texts from `messages` overrides, English where one is missing. */
export type Locale = 'es' | 'en' | (string & {});

const es = {
  'chat.title': 'Chat de Soporte',
  'chat.ticket': 'Ticket #{id}',
  'chat.minimize': 'Minimizar chat',
  'chat.expand': 'Expandir chat',
  'chat.expandUnseen': 'Expandir chat ({n} sin leer)',
  'chat.unseen': '{n} mensajes nuevos sin leer',
  'chat.close': 'Cerrar chat',
  'chat.noTicket': 'ID de ticket requerido para iniciar chat',
  'chat.dismissError': 'Cerrar aviso',
  'chat.dropHere': 'Suelta los archivos para adjuntarlos',
  'chat.participants': 'Participantes',
  'chat.online': 'en línea',
  'chat.offline': 'desconectado',
  'chat.closedTicket': 'Este ticket está cerrado: ya no admite mensajes.',
  'status.connected': 'Conectado',
  'status.connecting': 'Conectando...',
  'status.reconnecting': 'Reconectando...',
  'status.disconnected': 'Desconectado',
  'status.error': 'Error de conexión',
  'status.reconnect': 'Intentar reconectar',
  'status.pending': '{n} mensaje(s) pendientes de envío',
  'list.label': 'Mensajes',
  'list.empty': 'No hay mensajes aún. ¡Empieza la conversación!',
  'list.today': 'Hoy',
  'list.yesterday': 'Ayer',
  'list.loadOlder': 'Cargar mensajes anteriores',
  'list.loadingOlder': 'Cargando mensajes anteriores...',
  'list.start': 'Inicio de la conversación',
  'list.newMessage': 'Nuevo mensaje de {autor}: {texto}',
  'message.agent': 'Agente',
  'message.supervisor': 'Supervisor',
  'message.you': 'Tú',
  'message.note': 'Nota interna',
  'message.state.ENVIANDO': 'Enviando',
  'message.state.ENTREGADO': 'Entregado',
  'message.state.LEIDO': 'Leído',
  'message.state.ERROR': 'Error al enviar',
  'message.retry': 'Reintentar',
  'message.retryTitle': 'Reintentar envío',
  'message.discard': 'Descartar',
  'message.edited': 'Mensaje editado',
  'message.fullDate': 'Ver fecha completa',
  'file.download': 'Descargar {nombre}',
  'file.preview': 'Vista previa de {nombre}',
  'input.placeholder': 'Escribe tu mensaje...',
  'input.placeholderOffline': 'Sin conexión: tu mensaje se enviará al reconectar',
  'input.label': 'Mensaje',
  'input.send': 'Enviar mensaje',
  'input.attach': 'Adjuntar archivo',
  'input.emoji': 'Agregar emoji',
  'input.emojiPicker': 'Selector de emoji',
  'input.counter': '{n}/{max} caracteres',
  'input.hint': 'Enter para enviar, Mayús+Enter para nueva línea',
  'input.note': 'Nota interna (solo equipo)',
  'input.shortcuts': 'Respuestas predefinidas',
  'input.reply': 'Responder al cliente',
  'input.mode': 'A quién va el mensaje',
  'input.placeholderNote': 'Nota interna: solo la ve el equipo',
  'typing.one': '{a} está escribiendo...',
  'typing.two': '{a} y {b} están escribiendo...',
  'typing.many': 'Varias personas están escribiendo...',
  'upload.progress': 'Subiendo {nombre}... {n}%',
  'upload.tooBig': '{nombre}: supera el máximo de {max}.',
  'upload.badType': '{nombre}: tipo no permitido. Se aceptan: {tipos}.',
  'upload.empty': '{nombre}: el archivo está vacío.',
  'upload.failed': 'Error al subir {nombre}: {error}',
  'upload.offline': 'Sin conexión: no se pueden subir archivos ahora.',
  'error.token': 'Token de autenticación requerido',
  'error.refused': 'No se pudo abrir el chat: {detalle}',
  'error.transferred': 'El ticket fue transferido a otro agente.',
  'error.ticketGone': 'Este ticket ya no existe.',
  'error.closed': 'El servidor cerró el chat ({code}): {detalle}',
  'error.history': 'No se pudieron cargar los mensajes anteriores: {detalle}',
  'error.reconnectFailed': 'No se pudo reconectar. Pulsa reconectar para intentarlo de nuevo.',
  'error.message': 'Mensaje no enviado: {detalle}',
  'csat.question': '¿Cómo valorarías la atención recibida?',
  'csat.score.1': 'Muy insatisfecho',
  'csat.score.2': 'Insatisfecho',
  'csat.score.3': 'Ni satisfecho ni insatisfecho',
  'csat.score.4': 'Satisfecho',
  'csat.score.5': 'Muy satisfecho',
  'csat.comment': 'Comentario (opcional)',
  'csat.send': 'Enviar valoración',
  'csat.sending': 'Enviando...',
  'csat.thanks': '¡Gracias por tu valoración! ({n}/5)',
  'csat.failed': 'No se pudo enviar la valoración: {detalle}',
  'ticket.resolve': 'Mi problema está resuelto',
  'ticket.close': 'Cerrar conversación',
  'ticket.closeConfirm': '¿Cerrar la conversación? Después no podrás escribir en este ticket.',
  'ticket.closeYes': 'Sí, cerrar',
  'ticket.cancel': 'Cancelar',
  'ticket.actionFailed': 'No se pudo cambiar el ticket: {detalle}',
  'hours.open': 'Estamos disponibles.',
  'queue.waiting': 'Te atenderá la próxima persona disponible del equipo: puedes ir contándonos.',
  'hours.openTypical': 'Estamos disponibles. Solemos responder en {tiempo}.',
  'hours.typical': 'Solemos responder en {tiempo}.',
  'hours.closed': 'Ahora estamos fuera de horario. Déjanos tu mensaje y te responderemos.',
  'hours.closedUntil': 'Ahora estamos fuera de horario: volvemos {cuando}. Déjanos tu mensaje y te responderemos.',
  'hours.today': 'hoy a las {hora}',
  'hours.tomorrow': 'mañana a las {hora}',
  'hours.weekday': 'el {dia} a las {hora}',
  'hours.date': 'el {fecha} a las {hora}',
  'hours.underMinute': 'menos de un minuto',
  'hours.minute': '1 minuto',
  'hours.minutes': '{n} minutos',
  'hours.hour': '1 hora',
  'hours.hours': '{n} horas',
};

export type MessageKey = keyof typeof es;

const en: Record<MessageKey, string> = {
  'chat.title': 'Support chat',
  'chat.ticket': 'Ticket #{id}',
  'chat.minimize': 'Minimize chat',
  'chat.expand': 'Expand chat',
  'chat.expandUnseen': 'Expand chat ({n} unread)',
  'chat.unseen': '{n} new unread messages',
  'chat.close': 'Close chat',
  'chat.noTicket': 'A ticket id is required to start the chat',
  'chat.dismissError': 'Dismiss',
  'chat.dropHere': 'Drop files to attach them',
  'chat.participants': 'Participants',
  'chat.online': 'online',
  'chat.offline': 'offline',
  'chat.closedTicket': 'This ticket is closed: it takes no new messages.',
  'status.connected': 'Connected',
  'status.connecting': 'Connecting...',
  'status.reconnecting': 'Reconnecting...',
  'status.disconnected': 'Disconnected',
  'status.error': 'Connection error',
  'status.reconnect': 'Try to reconnect',
  'status.pending': '{n} message(s) waiting to be sent',
  'list.label': 'Messages',
  'list.empty': 'No messages yet. Start the conversation!',
  'list.today': 'Today',
  'list.yesterday': 'Yesterday',
  'list.loadOlder': 'Load earlier messages',
  'list.loadingOlder': 'Loading earlier messages...',
  'list.start': 'Start of the conversation',
  'list.newMessage': 'New message from {autor}: {texto}',
  'message.agent': 'Agent',
  'message.supervisor': 'Supervisor',
  'message.you': 'You',
  'message.note': 'Internal note',
  'message.state.ENVIANDO': 'Sending',
  'message.state.ENTREGADO': 'Delivered',
  'message.state.LEIDO': 'Read',
  'message.state.ERROR': 'Not sent',
  'message.retry': 'Retry',
  'message.retryTitle': 'Retry sending',
  'message.discard': 'Discard',
  'message.edited': 'Edited',
  'message.fullDate': 'Show full date',
  'file.download': 'Download {nombre}',
  'file.preview': 'Preview of {nombre}',
  'input.placeholder': 'Type your message...',
  'input.placeholderOffline': 'Offline: your message will be sent when reconnected',
  'input.label': 'Message',
  'input.send': 'Send message',
  'input.attach': 'Attach file',
  'input.emoji': 'Add emoji',
  'input.emojiPicker': 'Emoji picker',
  'input.counter': '{n}/{max} characters',
  'input.hint': 'Enter to send, Shift+Enter for a new line',
  'input.note': 'Internal note (team only)',
  'input.shortcuts': 'Canned responses',
  'input.reply': 'Reply to the customer',
  'input.mode': 'Who the message is for',
  'input.placeholderNote': 'Internal note: only the team sees it',
  'typing.one': '{a} is typing...',
  'typing.two': '{a} and {b} are typing...',
  'typing.many': 'Several people are typing...',
  'upload.progress': 'Uploading {nombre}... {n}%',
  'upload.tooBig': '{nombre}: larger than the {max} limit.',
  'upload.badType': '{nombre}: file type not allowed. Allowed: {tipos}.',
  'upload.empty': '{nombre}: the file is empty.',
  'upload.failed': 'Could not upload {nombre}: {error}',
  'upload.offline': 'Offline: files cannot be uploaded now.',
  'error.token': 'An authentication token is required',
  'error.refused': 'The chat could not be opened: {detalle}',
  'error.transferred': 'The ticket was transferred to another agent.',
  'error.ticketGone': 'This ticket no longer exists.',
  'error.closed': 'The server closed the chat ({code}): {detalle}',
  'error.history': 'Earlier messages could not be loaded: {detalle}',
  'error.reconnectFailed': 'Could not reconnect. Press reconnect to try again.',
  'error.message': 'Message not sent: {detalle}',
  'csat.question': 'How would you rate the help you got?',
  'csat.score.1': 'Very dissatisfied',
  'csat.score.2': 'Dissatisfied',
  'csat.score.3': 'Neither satisfied nor dissatisfied',
  'csat.score.4': 'Satisfied',
  'csat.score.5': 'Very satisfied',
  'csat.comment': 'Comment (optional)',
  'csat.send': 'Send rating',
  'csat.sending': 'Sending...',
  'csat.thanks': 'Thanks for your rating! ({n}/5)',
  'csat.failed': 'The rating could not be sent: {detalle}',
  'ticket.resolve': 'My problem is solved',
  'ticket.close': 'End conversation',
  'ticket.closeConfirm': 'End the conversation? You will not be able to write in this ticket afterwards.',
  'ticket.closeYes': 'Yes, end it',
  'ticket.cancel': 'Cancel',
  'ticket.actionFailed': 'The ticket could not be changed: {detalle}',
  'hours.open': 'We are available.',
  'queue.waiting': 'The next available person on the team will be with you: feel free to tell us more meanwhile.',
  'hours.openTypical': 'We are available. We usually reply in {tiempo}.',
  'hours.typical': 'We usually reply in {tiempo}.',
  'hours.closed': 'We are away right now. Leave us a message and we will reply.',
  'hours.closedUntil': 'We are away right now: back {cuando}. Leave us a message and we will reply.',
  'hours.today': 'today at {hora}',
  'hours.tomorrow': 'tomorrow at {hora}',
  'hours.weekday': 'on {dia} at {hora}',
  'hours.date': 'on {fecha} at {hora}',
  'hours.underMinute': 'under a minute',
  'hours.minute': '1 minute',
  'hours.minutes': '{n} minutes',
  'hours.hour': '1 hour',
  'hours.hours': '{n} hours',
};

export const messages: Record<'es' | 'en', Record<MessageKey, string>> = { es, en };

/** Texts a host replaces or adds for a language (every key, or some). */
export type MessageOverrides = Partial<Record<MessageKey, string>>;

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translator(locale: Locale = 'es', overrides: MessageOverrides = {}): Translate {
  const base = locale === 'es' || locale.startsWith('es-') ? es : en;
  const table: Record<string, string> = { ...base, ...overrides };
  return (key, vars) => {
    let text = table[key] ?? es[key] ?? key;
    if (vars) for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
    return text;
  };
}

interface I18nValue {
  locale: Locale;
  t: Translate;
}

const I18nContext = createContext<I18nValue>({ locale: 'es', t: translator('es') });

/** Sets the language of the components below it (Spanish by default), with a host's own texts. */
export function I18nProvider({ locale = 'es', messages: overrides, children }: { locale?: Locale; messages?: MessageOverrides; children: ReactNode }) {
  const t = useMemo(() => translator(locale, overrides), [locale, overrides]);
  return <I18nContext.Provider value={{ locale, t }}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18nValue {
  return useContext(I18nContext);
}

/** BCP 47 tag for dates and times. */
export function dateLocale(locale: Locale): string {
  if (locale === 'es') return 'es-ES';
  if (locale === 'en') return 'en-GB';
  return locale;
}
