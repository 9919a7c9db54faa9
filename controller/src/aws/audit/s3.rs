//! S3 requests as IAM evaluates them.
//!
//! | operation | recorded (action on resource {condition keys}) |
//! | --- | --- |
//! | ListObjectsV2, ListObjects | s3:ListBucket on the bucket {s3:prefix, s3:delimiter, s3:max-keys} |
//! | GetObject | s3:GetObject on the object; for an SSE-KMS object (the response names the key) kms:Decrypt on the key {kms:ViaService = s3.<region>.amazonaws.com, kms:CallerAccount, kms:EncryptionContext:aws:s3:arn} |
//! | HeadObject | s3:GetObject on the object (HEAD is authorized as GetObject; it decrypts nothing) |
//! | PutObject | s3:PutObject on the object {s3:if-match, s3:if-none-match}; SSE-KMS: kms:GenerateDataKey on the key {as above} |
//! | DeleteObject | s3:DeleteObject on the object |
//!
//! The encryption context is the bucket's ARN with an S3 Bucket Key, else the object's.

use aws_sdk_s3::operation as op;
use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::{output, Arns, Line, Planned};

fn bucket_arn(a: &Arns, bucket: &str) -> String {
    format!("arn:{}:s3:::{bucket}", a.partition)
}

fn object_arn(a: &Arns, bucket: &str, key: &str) -> String {
    format!("arn:{}:s3:::{bucket}/{key}", a.partition)
}

/// The KMS authorization S3 makes on the caller's behalf for an object encrypted with `key`
/// (SSE-KMS), if it is: the object's ARN as encryption context, or the bucket's with an S3
/// Bucket Key.
fn kms_lines(
    a: &Arns,
    action: &str,
    key: Option<&str>,
    bucket_key: Option<bool>,
    bucket: &str,
    object: &str,
) -> Vec<Line> {
    let Some(key) = key else {
        return Vec::new();
    };
    let key_arn = Arns::or_build(key, |id| a.regional("kms", &format!("key/{id}")));
    let context = if bucket_key.unwrap_or(false) {
        bucket_arn(a, bucket)
    } else {
        object.to_string()
    };
    vec![Line::new(action, key_arn)
        .with("kms:ViaService", format!("s3.{}.amazonaws.com", a.region))
        .with("kms:CallerAccount", a.account.clone())
        .with("kms:EncryptionContext:aws:s3:arn", context)]
}

pub(super) fn plan(input: &Input, a: &Arns) -> Option<Planned> {
    if let Some(i) = input.downcast_ref::<op::list_objects_v2::ListObjectsV2Input>() {
        let line = Line::new(
            "s3:ListBucket",
            bucket_arn(a, i.bucket().unwrap_or_default()),
        )
        .with_some("s3:prefix", i.prefix())
        .with_some("s3:delimiter", i.delimiter())
        .with_some("s3:max-keys", i.max_keys().map(|n| n.to_string()));
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::list_objects::ListObjectsInput>() {
        let line = Line::new(
            "s3:ListBucket",
            bucket_arn(a, i.bucket().unwrap_or_default()),
        )
        .with_some("s3:prefix", i.prefix())
        .with_some("s3:delimiter", i.delimiter())
        .with_some("s3:max-keys", i.max_keys().map(|n| n.to_string()));
        return Some(Planned::lines(vec![line]));
    }
    if let Some(i) = input.downcast_ref::<op::get_object::GetObjectInput>() {
        let bucket = i.bucket().unwrap_or_default().to_string();
        let object = object_arn(a, &bucket, i.key().unwrap_or_default());
        let line = Line::new("s3:GetObject", &object);
        return Some(Planned::then(vec![line], move |out, a, _| {
            output::<op::get_object::GetObjectOutput>(out).map_or_else(Vec::new, |o| {
                let (key, bucket_key) = (o.ssekms_key_id(), o.bucket_key_enabled());
                kms_lines(a, "kms:Decrypt", key, bucket_key, &bucket, &object)
            })
        }));
    }
    if let Some(i) = input.downcast_ref::<op::head_object::HeadObjectInput>() {
        let object = object_arn(
            a,
            i.bucket().unwrap_or_default(),
            i.key().unwrap_or_default(),
        );
        return Some(Planned::lines(vec![Line::new("s3:GetObject", object)]));
    }
    if let Some(i) = input.downcast_ref::<op::put_object::PutObjectInput>() {
        let bucket = i.bucket().unwrap_or_default().to_string();
        let object = object_arn(a, &bucket, i.key().unwrap_or_default());
        let line = Line::new("s3:PutObject", &object)
            .with_some("s3:if-match", i.if_match())
            .with_some("s3:if-none-match", i.if_none_match());
        return Some(Planned::then(vec![line], move |out, a, _| {
            output::<op::put_object::PutObjectOutput>(out).map_or_else(Vec::new, |o| {
                let (key, bucket_key) = (o.ssekms_key_id(), o.bucket_key_enabled());
                kms_lines(a, "kms:GenerateDataKey", key, bucket_key, &bucket, &object)
            })
        }));
    }
    if let Some(i) = input.downcast_ref::<op::delete_object::DeleteObjectInput>() {
        let object = object_arn(
            a,
            i.bucket().unwrap_or_default(),
            i.key().unwrap_or_default(),
        );
        return Some(Planned::lines(vec![Line::new("s3:DeleteObject", object)]));
    }
    None
}
