// Camera, microphone and screen: opening them with the chosen devices, and filling the device pickers.
import { DemoError, mediaError } from '../shared/errors.js';

/** Camera and microphone, as one stream; throws a DemoError (camera_denied, no_device, device_busy). */
export async function openCameraAndMic(cameraId, micId) {
  try {
    return await navigator.mediaDevices.getUserMedia({
      video: cameraId ? { deviceId: { exact: cameraId } } : { width: 640, height: 360 },
      audio: micId ? { deviceId: { exact: micId } } : true,
    });
  } catch (err) {
    throw mediaError(err);
  }
}

/** One track of one kind from a chosen device (switching devices mid-call). */
export async function openTrack(kind, deviceId) {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
    return stream.getTracks()[0];
  } catch (err) {
    throw mediaError(err);
  }
}

export async function openScreen() {
  try {
    return await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    throw new DemoError('screen_share_failed', { cause: err });
  }
}

/** Fill a <select> with the devices of one kind, keeping `selectedId` selected. */
export async function fillDevicePicker(select, kind, selectedId) {
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
  select.replaceChildren(
    ...devices.map((d, i) => {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`;
      option.selected = d.deviceId === selectedId;
      return option;
    }),
  );
  select.disabled = devices.length === 0;
}
