// Region and credentials from the process environment (Node and Deno).
export function environmentFrom(get) {
  return () => {
    const accessKeyId = get('AWS_ACCESS_KEY_ID');
    const secretAccessKey = get('AWS_SECRET_ACCESS_KEY');
    return {
      region: get('AWS_REGION') || get('AWS_DEFAULT_REGION') || undefined,
      credentials:
        accessKeyId && secretAccessKey
          ? { accessKeyId, secretAccessKey, sessionToken: get('AWS_SESSION_TOKEN') || undefined }
          : undefined,
    };
  };
}
